"""Submitting exactly once and following jobs to the end, over real HTTP and a real log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from rivya import InsufficientCreditsError, InvalidInputError, RivyaClient
from rivya.jobs import JobService
from rivya.sandbox import Sandbox
from rivya.status import JobStatus
from rivya.tasklog import TaskLog

from .conftest import FAST_POLLS, follow, image_bytes


def service(sandbox: Sandbox, tmp_path: Path, where: Path | str, *, retries: int = 2) -> JobService:
    """A service on the log at ``where`` (the ``log_location`` fixture: each test runs on SQLite and PostgreSQL)."""
    client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS, max_retries=retries)
    return JobService(client, TaskLog(where), tmp_path / "media", backend="sandbox")


def test_submit_follow_and_keep_the_image(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    job = jobs.submit("grok-imagine", "a fox", {"aspect_ratio": "2:3"}, idempotency_key="k1", page="image", session_id="s1")
    assert job.status == "queued" and job.task_id in sandbox.state.tasks and job.reserved_credits == 4
    done = follow(jobs, job.id)
    assert done.status == "succeeded" and done.final_credits == 4 and done.polls >= 1
    saved = Path(done.media_paths[0])
    assert saved.parent == tmp_path / "media" and saved.suffix == ".png"
    assert Image.open(saved).size == (682, 1024)
    sandbox.stop()  # the service goes away; the saved result does not
    assert Image.open(saved).size == (682, 1024)


def test_a_repeated_key_never_makes_a_second_task(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    first = jobs.submit("grok-imagine", "a fox", {}, idempotency_key="same")
    second = jobs.submit("grok-imagine", "a fox", {}, idempotency_key="same")
    assert first.id == second.id and len(sandbox.state.tasks) == 1
    assert sandbox.state.balance() == 996


def test_failure_is_logged_with_its_refund(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    job = follow(jobs, jobs.submit("grok-imagine-video", "please #fail", {"duration": 6}, idempotency_key="f").id)
    assert job.status == "failed" and job.error_code == "generation_failed" and job.credits_returned == 10
    assert sandbox.state.balance() == 1000


def test_refused_jobs_are_logged_as_rejected_and_cost_nothing(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    sandbox.set_credits(2)
    with pytest.raises(InsufficientCreditsError):
        jobs.submit("grok-imagine", "a fox", {}, idempotency_key="poor")
    row = jobs.log.by_key("poor")
    assert row.status == JobStatus.REJECTED and row.error_code == "insufficient_credits" and sandbox.state.tasks == {}
    sent = len(sandbox.journal)
    with pytest.raises(InvalidInputError):
        jobs.submit("grok-imagine", "", {"aspect_ratio": "5:4"}, idempotency_key="bad")
    assert jobs.log.by_key("bad") is None and len(sandbox.journal) == sent


def test_lost_reply_is_recovered_by_the_follower(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location, retries=0)
    sandbox.lose_next_creates(1)
    job = jobs.submit("grok-imagine", "a lost fox", {}, idempotency_key="lost")
    assert job.status == JobStatus.SUBMITTING and job.error_code == "network" and len(sandbox.state.tasks) == 1
    done = follow(jobs, job.id)
    assert done.status == "succeeded" and done.task_id == next(iter(sandbox.state.tasks))
    assert len(sandbox.state.tasks) == 1 and sandbox.state.balance() == 996


def test_restart_between_send_and_reply_recovers_the_same_task(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    before = service(sandbox, tmp_path, log_location)
    row = before.log.add(
        idempotency_key="crash", backend="sandbox", model="grok-imagine", category="image", prompt="a crash", params={}
    )
    # The request reached the service, then the process died before writing the reply.
    before.client.create_generation(
        "grok-imagine", "a crash", None, idempotency_key="crash", client_request_id=f"studio-{row.id}"
    )
    assert len(sandbox.state.tasks) == 1
    after = service(sandbox, tmp_path, log_location)  # a new process: same log file, nothing in memory
    after.log.update(row.id, error_code="network")  # as if it had been waiting a while
    done = follow(after, row.id)
    assert done.status == "succeeded" and done.task_id == next(iter(sandbox.state.tasks))
    assert len(sandbox.state.tasks) == 1 and sandbox.state.balance() == 996


def test_follower_thread_finishes_jobs_with_no_page_open(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location).start()
    try:
        ids = [jobs.submit("grok-imagine", f"fox {n}", {}, idempotency_key=f"t{n}").id for n in range(3)]
        deadline = time.monotonic() + 15
        # Results are saved off the polling path, just after the status says succeeded.
        while time.monotonic() < deadline and not all(jobs.log.get(i).is_done and not jobs.log.get(i).awaits_media for i in ids):
            time.sleep(0.1)
        assert all(jobs.log.get(i).status == "succeeded" and jobs.log.get(i).media_paths for i in ids)
    finally:
        jobs.stop()


def test_follower_honours_retry_after(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    jobs = service(sandbox, tmp_path, log_location, retries=0)
    job = jobs.submit("grok-imagine", "a patient fox", {}, idempotency_key="rl")
    time.sleep(0.4)
    sandbox.rate_limit_next(1, retry_after=1)
    jobs.follow_once()
    assert sandbox.journal[-1].status == 429
    paused_at = time.monotonic()
    while time.monotonic() - paused_at < 0.8:
        assert jobs.follow_once() == 0  # nothing is sent during Retry-After
        time.sleep(0.1)
    assert follow(jobs, job.id).status == "succeeded"


def test_reference_is_uploaded_and_sent(sandbox: Sandbox, tmp_path: Path) -> None:
    from rivya.config import Settings
    from rivya.studio import Studio

    studio = Studio.open(Settings(api_key=sandbox.api_key, base_url=sandbox.url, data_dir=tmp_path), follow=False)
    ref = studio.prepare_reference(image_bytes("WEBP"), "me.webp", "grok-imagine")
    assert studio.prepare_reference(image_bytes("WEBP"), "me.webp", "grok-imagine") is ref  # uploaded once
    assert len(sandbox.state.files) == 1 and Path(ref.local_path).read_bytes() == image_bytes("WEBP")
    job = studio.jobs.submit("grok-imagine", "like this", {"aspect_ratio": "1:1"}, idempotency_key="r", reference=ref)
    sent = sandbox.state.tasks[job.task_id].params["referenceMediaItems"]
    assert sent == [{"url": ref.uploaded.url, "kind": "image", "name": "me.webp", "mimeType": "image/webp"}]
    assert job.reference_path == ref.local_path and job.reference_url == ref.uploaded.url
    with pytest.raises(InvalidInputError, match="GIF"):
        studio.prepare_reference(image_bytes("GIF"), "sneaky.png", "grok-imagine")
    studio.close()
