"""Long jobs are announced to a real local webhook receiver: delivered once, retried, never with a secret."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rivya import RivyaClient
from rivya.config import Settings
from rivya.jobs import JobService
from rivya.notify import Notifier
from rivya.people import Person
from rivya.sandbox import Sandbox, Timing
from rivya.studio import Studio
from rivya.tasklog import Job, TaskLog

from .conftest import FAST_POLLS, until

# Images end in about 0.3 s, videos in about 3 s: with a 2 s threshold only videos are announced.
TIMING = Timing(image_queued=0.1, image_processing=0.2, video_queued=1.0, video_processing=2.0)
LONG = 2.0


class Receiver:
    """An incoming-webhook stand-in on 127.0.0.1: records every body, answers with the queued statuses, then 200."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.bodies.append(body)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.bodies]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def slow_sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=TIMING, seed=3) as server:
        yield server


def service(sandbox: Sandbox, tmp_path: Path, notifier: Notifier) -> JobService:
    client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS)
    return JobService(client, TaskLog(tmp_path / "log.sqlite3"), tmp_path / "media", backend="sandbox", notifier=notifier)


def run(jobs: JobService, model: str, key: str, person: Person | None = None) -> int:
    """Submit one job and follow it to its end, as the follower thread does."""
    job = jobs.submit(model, f"a {key} fox <!channel> & friends", {}, idempotency_key=key, person=person)
    until(lambda: jobs.follow_once() >= 0 and jobs.log.get(job.id).is_done and not jobs.log.get(job.id).awaits_media)
    return job.id


def test_a_long_job_is_announced_once_and_a_short_one_not_at_all(
    slow_sandbox: Sandbox, receiver: Receiver, tmp_path: Path
) -> None:
    notifier = Notifier(receiver.url, LONG, backoff=0.05)
    jobs = service(slow_sandbox, tmp_path, notifier)
    short = run(jobs, "grok-imagine", "quick")
    long = run(jobs, "grok-imagine-video", "slow", Person("ana@example.com", "Ana Lima"))
    until(lambda: long in notifier.delivered)
    notifier.job_ended(jobs.log.get(long))  # seen ending again (another pass, another thread): no second message
    again = run(jobs, "grok-imagine-video", "again")
    until(lambda: again in notifier.delivered)  # one sender, in order: anything queued before has been posted
    texts = [m["text"] for m in receiver.messages()]
    assert len(texts) == 2 and all("Video" in t or "video" in t for t in texts), texts
    assert short not in notifier.delivered
    message = receiver.messages()[0]
    context = message["blocks"][1]["elements"][0]["text"]
    assert "finished for Ana Lima" in message["text"] and f"job {long}" in context and "credit" in context
    assert "&lt;!channel&gt; &amp; friends" in message["text"]  # a prompt cannot ping a channel
    jobs.stop()


def test_a_failed_delivery_is_retried_with_backoff(slow_sandbox: Sandbox, receiver: Receiver, tmp_path: Path) -> None:
    receiver.statuses.extend([500, 429])
    notifier = Notifier(receiver.url, LONG, backoff=0.05)
    jobs = service(slow_sandbox, tmp_path, notifier)
    long = run(jobs, "grok-imagine-video", "retried")
    until(lambda: long in notifier.delivered)
    assert len(receiver.bodies) == 3 and len(set(receiver.bodies)) == 1  # the same message, third time lucky
    jobs.stop()


def test_a_restart_does_not_announce_jobs_that_ended_before(slow_sandbox: Sandbox, receiver: Receiver, tmp_path: Path) -> None:
    first = service(slow_sandbox, tmp_path, Notifier(receiver.url, 3600))  # nothing is long enough for this one
    old = run(first, "grok-imagine-video", "before")
    first.stop()
    notifier = Notifier(receiver.url, LONG, backoff=0.05)
    restarted = service(slow_sandbox, tmp_path, notifier)
    restarted.recheck()
    new = run(restarted, "grok-imagine-video", "after")
    until(lambda: new in notifier.delivered)
    assert old not in notifier.delivered and len(receiver.bodies) == 1
    restarted.stop()


def test_the_studio_wires_the_webhook_and_no_secret_reaches_it(receiver: Receiver, tmp_path: Path) -> None:
    settings = Settings(
        api_key=None, base_url="https://rivya.ai", data_dir=tmp_path, app_password="hunter2-password",
        notify_webhook_url=receiver.url, notify_min_seconds=0.0,
    )
    studio = Studio.open(settings)
    try:
        assert studio.jobs.notifier is not None and receiver.url not in repr(studio.jobs.notifier)
        studio.jobs.timetable.cadence = FAST_POLLS
        job = studio.jobs.submit("grok-imagine", "a fox for the team", {}, idempotency_key="studio")
        until(lambda: bool(receiver.bodies), timeout=60)
    finally:
        studio.close()
    body = receiver.bodies[0].decode()
    assert "a fox for the team" in body and f"job {job.id}" in body
    assert studio.sandbox is not None and studio.sandbox.api_key not in body
    assert "hunter2-password" not in body and "secret-token" not in body and "rvya_sk" not in body


def test_only_a_web_address_is_accepted() -> None:
    with pytest.raises(ValueError):
        Notifier("file:///etc/passwd", 0)


def ended(job_id: int) -> Job:
    """A job row that ran a minute and succeeded: long enough for any threshold these tests set."""
    return Job(
        id=job_id, idempotency_key=f"k{job_id}", backend="sandbox", submitted_at="2025-01-01T10:00:00+00:00",
        updated_at="2025-01-01T10:01:00+00:00", finished_at="2025-01-01T10:01:00+00:00", model="grok-imagine",
        category="image", prompt="a fox", params={}, reference_path=None, reference_url=None, task_id="t",
        status="succeeded", reserved_credits=4, final_credits=4, result_urls=[], media_paths=[], error_code=None,
        error_message=None, page=None, session_id=None, polls=1, key_owner="shared", expected_credits=4,
    )


def test_no_log_line_names_the_webhook_address_even_at_debug(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    """The address is a secret: request lines (urllib3 logs each path at DEBUG), retries, refusals and connection
    errors all reach the log without it."""
    caplog.set_level(logging.DEBUG)
    receiver.statuses.extend([500, 404])
    notifier = Notifier(receiver.url, 0, backoff=0.05)
    with socket.socket() as closed:  # a port nothing listens on once this is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    unreachable = Notifier(f"http://127.0.0.1:{port}/services/T0/B0/secret-token?token=secret-query", 0,
                           attempts=2, backoff=0.05)
    try:
        notifier.job_ended(ended(1))
        unreachable.job_ended(ended(2))
        until(lambda: "refused the message (HTTP 404)" in caplog.text and "not delivered after 2 tries" in caplog.text)
    finally:
        notifier.close()
        unreachable.close()
    assert len(receiver.bodies) == 2 and not notifier.delivered  # a 500 is tried again, a 404 is not
    assert "HTTP 500" in caplog.text and "ConnectionError" in caplog.text
    assert "secret-token" not in caplog.text and "secret-query" not in caplog.text, caplog.text
