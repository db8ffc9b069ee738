"""Rivya webhooks as the wake-up: the app's receiver route (real HTTP on 127.0.0.1) taking the sandbox's real, signed
deliveries; forged, replayed and oversized events; a receiver that was down; a rotated secret; two replicas.

Each test that shows an event waking a job polls on a cadence too slow to have found the result itself within the
test's (generous) deadline, so the result can only have come through the event.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import uvicorn
from starlette.applications import Starlette

from rivya import RivyaClient, constants
from rivya.config import load_settings
from rivya.hook_route import hook_route
from rivya.hook_setup import Webhooks
from rivya.jobs import JobService
from rivya.polling import PollSchedule, RequestBudget
from rivya.sandbox import Sandbox, Timing
from rivya.sandbox.hooks import sign
from rivya.studio import Studio
from rivya.tasklog import TaskLog

from .conftest import until

QUICK = Timing(image_queued=0.2, image_processing=0.8)
# A cadence that would not look at a job for ten minutes: only an event can bring its result within a test.
NEVER = PollSchedule(first_delay=600.0, first_spread=0.0, image_interval=600.0, image_max=600.0,
                     video_interval=600.0, video_max=600.0)
DEADLINE = 30.0


class HookServer:
    """The app's receiver route (``rivya.hook_route``) served by uvicorn on 127.0.0.1, port 0, in a thread."""

    def __init__(self) -> None:
        self.hooks: Webhooks | None = None
        app = Starlette(routes=[hook_route(lambda: SimpleNamespace(webhooks=self.hooks))])  # type: ignore[arg-type,return-value]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        until(lambda: self.server.started and self.server.servers)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def post(self, body: bytes, **headers: str) -> requests.Response:
        return requests.post(self.url + constants.WEBHOOK_PATH, data=body,
                             headers={"Content-Type": "application/json", **headers}, timeout=10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def hook_sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=QUICK, allow_local_webhooks=True) as sandbox:
        yield sandbox


@pytest.fixture
def receiver() -> Iterator[HookServer]:
    server = HookServer()
    yield server
    server.stop()


def service(sandbox: Sandbox, tmp_path: Path, where: Path | str, schedule: PollSchedule = NEVER) -> JobService:
    client = RivyaClient(sandbox.api_key, sandbox.url)
    return JobService(client, TaskLog(where), tmp_path / "media", backend="sandbox", schedule=schedule,
                      budget=RequestBudget(rate=50, burst=20, step=0))


def status_requests(sandbox: Sandbox, task_id: str | None) -> int:
    return sum(1 for e in sandbox.journal if e.method == "GET" and e.task_id == task_id)


def turn_on(jobs: JobService, sandbox: Sandbox, server: HookServer) -> Webhooks:
    hooks = Webhooks(jobs, RivyaClient(sandbox.api_key, sandbox.url), server.url)
    server.hooks = hooks
    assert hooks.register() is not None
    until(lambda: hooks.health.healthy)  # the test event arrived, signed with the secret we hold
    return hooks


def test_the_sandbox_s_signed_delivery_wakes_the_job_and_one_status_request_ends_it(
    hook_sandbox: Sandbox, receiver: HookServer, tmp_path: Path, log_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A safety look far beyond the deadline below: the result can only come through the event.
    monkeypatch.setattr(constants, "WEBHOOK_SAFETY_INTERVAL", {"image": 600.0})
    jobs = service(hook_sandbox, tmp_path, log_location, PollSchedule())  # the documented cadence...
    hooks = turn_on(jobs, hook_sandbox, receiver)
    jobs.start()
    try:
        job = jobs.submit("grok-imagine", "a lighthouse", {}, idempotency_key="w1")
        # ...relaxed to the safety cadence while deliveries are healthy: the event is expected to come first.
        assert jobs.timetable.due_at(job.id) >= time.time() + 500
        until(lambda: jobs.log.get(job.id).is_done)
    finally:
        jobs.stop()
    assert jobs.log.get(job.id).status == "succeeded"
    assert status_requests(hook_sandbox, job.task_id) == 1  # the woken look, and nothing else
    assert hooks.receiver.counts.get("woken") == 1
    delivered = [d for d in hooks.client.webhook_deliveries(hooks.endpoint.id) if d["event_type"] == "generation.succeeded"]
    assert delivered and delivered[0]["status"] == "succeeded"


def test_a_forged_event_costs_one_status_request_and_changes_nothing_and_a_replay_is_not_acted_on(
    receiver: HookServer, tmp_path: Path
) -> None:
    slow = Timing(image_queued=300, image_processing=300)
    with Sandbox(timing=slow, allow_local_webhooks=True) as sandbox:
        jobs = service(sandbox, tmp_path, tmp_path / "log.sqlite3")
        hooks = turn_on(jobs, sandbox, receiver)
        job = jobs.submit("grok-imagine", "a fox", {}, idempotency_key="f1")
        forged = json.dumps({"id": "evt_forged", "type": "generation.succeeded", "data": {
            "id": job.task_id, "status": "succeeded", "result": {"primary_url": "https://evil.example/x.png"}}}).encode()
        hooks.health.found_by_poll("task_elsewhere")  # deliveries judged lost: only a signed event could restore them
        assert receiver.post(forged).status_code == 200
        jobs.follow_once()
        assert status_requests(sandbox, job.task_id) == 1  # woken once, through the budget
        row = jobs.log.get(job.id)
        assert row.status == "queued" and row.result_urls == []  # the service's word, not the event's
        assert not hooks.health.healthy  # an unsigned event does not relax polling
        for n in range(50):  # more forged events for the same task, each with a new id
            receiver.post(forged.replace(b"evt_forged", f"evt_forged{n}".encode()))
        jobs.follow_once()
        assert status_requests(sandbox, job.task_id) == 1  # at most one wake per task per WEBHOOK_TASK_WAKE_SECONDS
        assert hooks.receiver.counts["limited_task"] == 50
        # The service's own (signed) event is not crowded out by the forged ones.
        real = json.dumps({"id": "evt_real", "type": "generation.succeeded", "data": {"id": job.task_id}}).encode()
        secret = hooks.receiver.secrets.current or ""
        assert receiver.post(real, **{"Rivya-Signature": sign(secret, real, int(time.time()))}).ok
        jobs.follow_once()
        assert status_requests(sandbox, job.task_id) == 2
        # A replayed event: its signature is good, its id already seen.
        body = json.dumps({"id": "evt_signed", "type": "webhook.test", "data": {}}).encode()
        headers = {"Rivya-Signature": sign(secret, body, int(time.time()))}
        assert receiver.post(body, **headers).status_code == 200
        assert receiver.post(body, **headers).status_code == 200
        assert hooks.receiver.counts["replayed"] == 1
        # A bad signature is no sign of health; a body over the limit is refused before it is read whole.
        assert receiver.post(body.replace(b"evt_signed", b"evt_other"), **{"Rivya-Signature": "t=1,v1=00"}).ok
        assert receiver.post(b"{" + b" " * constants.WEBHOOK_MAX_BODY + b"}").status_code == 413
        assert receiver.post(b"not json").status_code == 400
        jobs.stop()


def test_a_receiver_that_was_down_leaves_polling_to_find_the_result_then_polling_keeps_the_documented_cadence(
    hook_sandbox: Sandbox, receiver: HookServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "WEBHOOK_SAFETY_INTERVAL", {"image": 3.0})  # the safety look comes soon here
    jobs = service(hook_sandbox, tmp_path, tmp_path / "log.sqlite3", PollSchedule())
    hooks = turn_on(jobs, hook_sandbox, receiver)
    receiver.stop()  # the receiver goes down
    jobs.start()
    try:
        job = jobs.submit("grok-imagine", "a storm", {}, idempotency_key="d1")
        until(lambda: jobs.log.get(job.id).is_done)  # found by the safety look: nothing lost
        assert jobs.log.get(job.id).status == "succeeded"
        # A finish no event announced: deliveries are not arriving (marked by the follower just after its log write).
        until(lambda: not hooks.health.healthy)
        later = jobs.submit("grok-imagine", "after the storm", {}, idempotency_key="d2")
        assert jobs.timetable.due_at(later.id) <= time.time() + 3.0  # the documented first look (2-3 s) again
        until(lambda: jobs.log.get(later.id).is_done)
    finally:
        jobs.stop()
    failed = [d for d in hooks.client.webhook_deliveries(hooks.endpoint.id) if d["status"] == "failed"]
    assert failed  # the service did try to deliver


def test_a_restart_reuses_the_endpoint_by_url_rotates_its_secret_and_touches_no_other_endpoint(
    hook_sandbox: Sandbox, receiver: HookServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = RivyaClient(hook_sandbox.api_key, hook_sandbox.url)
    other = client.create_webhook("https://elsewhere.example/hooks", name="someone else's")
    first = turn_on(service(hook_sandbox, tmp_path, tmp_path / "a.sqlite3"), hook_sandbox, receiver)
    assert first.created
    old_secret = first.receiver.secrets.current
    again = Webhooks(service(hook_sandbox, tmp_path, tmp_path / "b.sqlite3"), client, receiver.url)  # the app restarted
    receiver.hooks = again
    assert again.register() is not None and not again.created
    until(lambda: again.health.healthy)  # the test event verified with the rotated secret
    assert again.receiver.secrets.current not in (None, old_secret)
    assert [e.url for e in client.list_webhooks()].count(again.url) == 1  # reused, not duplicated
    assert client.get_webhook(other.id).raw == other.raw  # not rotated, not changed, not removed
    # An event signed with the secret before the rotation is only a wake-up, never a sign of health.
    body = json.dumps({"id": "evt_old", "type": "webhook.test", "data": {}}).encode()
    fresh = Webhooks(service(hook_sandbox, tmp_path, tmp_path / "c.sqlite3"), client, receiver.url)
    fresh.receiver.secrets.set(again.receiver.secrets.current or "")
    receiver.hooks = fresh
    assert receiver.post(body, **{"Rivya-Signature": sign(old_secret or "", body, int(time.time()))}).ok
    assert not fresh.health.healthy
    # The secrets stay in memory: never in a log line or an object's repr.
    for secret in (old_secret or "", again.receiver.secrets.current or ""):
        assert secret not in caplog.text and secret not in repr(again.endpoint) and secret not in repr(again.receiver.secrets)


def test_public_url_is_checked_and_without_it_nothing_changes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PUBLIC_URL"):
        load_settings(environ={"PUBLIC_URL": "ftp://studio.example"})
    assert load_settings(environ={"PUBLIC_URL": "https://studio.example/"}).public_url == "https://studio.example"
    studio = Studio.open(load_settings(environ={"RIVYA_DATA_DIR": str(tmp_path)}), follow=False)
    try:
        assert studio.webhooks is None and not studio.jobs.timetable.relaxed()
        assert studio.sandbox is not None and studio.sandbox.webhooks.endpoints == {}  # nothing registered
    finally:
        studio.close()


def test_an_event_at_the_replica_that_does_not_hold_the_job_reaches_the_holder_and_both_relax_while_one_verifies(
    hook_sandbox: Sandbox, receiver: HookServer, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "WEBHOOK_HEALTH_READ_SECONDS", 0.0)  # each look at the health reads the stamp
    holder = service(hook_sandbox, tmp_path / "a", postgres_url)
    # On, but not registered here: it holds no secret, so it can verify no delivery of its own.
    held = Webhooks(holder, RivyaClient(hook_sandbox.api_key, hook_sandbox.url), receiver.url)
    other = service(hook_sandbox, tmp_path / "b", postgres_url)
    reached = turn_on(other, hook_sandbox, receiver)  # the replica the event reaches
    # The other replica's stamp in the shared log (written just after it marks itself healthy: waited for).
    until(lambda: held.health.healthy and holder.timetable.relaxed())
    holder.start()
    try:
        job = holder.submit("grok-imagine", "a harbour", {}, idempotency_key="r1")
        assert not other.held.holds(job.id)
        until(lambda: holder.log.get(job.id).is_done)  # the holder polls nothing for ten minutes on its own
    finally:
        holder.stop()
    assert holder.log.get(job.id).status == "succeeded"
    assert status_requests(hook_sandbox, job.task_id) == 1
    assert reached.receiver.counts.get("asked_holder") == 1
    assert held.health.healthy  # the finish it found was announced at the other replica: still relaxed
    # Deliveries stop: once no replica has verified one for WEBHOOK_HEALTHY_SECONDS, both are back on the documented
    # cadence (the clocks moved on past the window).
    later = time.time() + constants.WEBHOOK_HEALTHY_SECONDS + 1
    for hooks in (held, reached):
        hooks.health.wall = lambda: later
        hooks.health.clock = lambda: time.monotonic() + constants.WEBHOOK_HEALTHY_SECONDS + 1
    assert not held.health.healthy and not reached.health.healthy and not holder.timetable.relaxed()
    assert "whsec" not in repr(holder.log.read("SELECT * FROM webhook_health"))  # a time, never a secret
