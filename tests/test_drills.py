"""Fault drills on the sandbox: each ends with no lost job, no duplicate, no double charge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rivya import RivyaClient
from rivya.jobs import JobService
from rivya.polling import RequestBudget
from rivya.sandbox import Faults, Sandbox
from rivya.tasklog import TaskLog

from .browser_support import free_port
from .conftest import APP, FAST_POLLS, FAST_TIMING, ManualClock

PROMPTS = [f"drill job {n}" for n in range(5)]


def service(sandbox_url: str, key: str, tmp_path: Path, where: Path | str, *, timeout: float | None = None) -> JobService:
    """A service on the log at ``where`` (the ``log_location`` fixture: each drill runs on SQLite and PostgreSQL)."""
    client = RivyaClient(key, sandbox_url, poll_schedule=FAST_POLLS, max_retries=2, timeout=timeout)
    return JobService(client, TaskLog(where), tmp_path / "media", backend="drill", budget=RequestBudget(rate=50, burst=20))


def submit_all(jobs: JobService) -> list[int]:
    ids = []
    for n, prompt in enumerate(PROMPTS):
        try:
            ids.append(jobs.submit("grok-imagine", prompt, {}, idempotency_key=f"drill-{n}").id)
        except Exception as exc:
            pytest.fail(f"submit {n} raised {exc!r}")
    return ids


def unsettled(jobs: JobService) -> bool:
    """Jobs still running, or finished with their result not saved yet (saving runs off the polling path)."""
    return bool(jobs.log.pending("drill") or jobs.log.unsaved("drill"))


def drain(jobs: JobService, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while unsettled(jobs) and time.monotonic() < deadline:
        jobs.follow_once()
        time.sleep(0.05)


def assert_exactly_once(jobs: JobService, sandbox: Sandbox, ids: list[int]) -> None:
    rows = [jobs.log.get(i) for i in ids]
    assert [r.status for r in rows] == ["succeeded"] * len(PROMPTS), [(r.status, r.error_code) for r in rows]
    assert all(r.media_paths and Path(r.media_paths[0]).exists() for r in rows)
    with sandbox.state.lock:
        tasks = list(sandbox.state.tasks.values())
        balance = sandbox.state.credits
    assert sorted(t.prompt for t in tasks) == sorted(PROMPTS)  # no duplicate, none lost
    assert sorted(r.task_id for r in rows) == sorted(t.id for t in tasks)
    assert balance == 1000 - 4 * len(PROMPTS)  # no double charge
    assert jobs.log.count() == len(rows) and sum(r.charged_credits for r in rows) == 1000 - balance  # log = wallet


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=FAST_TIMING, seed=3) as server:
        yield server


def test_storm_of_429s(sandbox: Sandbox, tmp_path: Path) -> None:
    """SQLite only: the subject is the shared request budget, the same on either engine (and ~20 s a run)."""
    sandbox.faults.rate_limit_rate, sandbox.faults.retry_after = 0.6, 0.1
    jobs = service(sandbox.url, sandbox.api_key, tmp_path, tmp_path / "drill.sqlite3")
    ids = submit_all(jobs)
    drain(jobs)
    sandbox.faults.rate_limit_rate = 0
    drain(jobs)
    assert_exactly_once(jobs, sandbox, ids)
    assert any(e.status == 429 for e in sandbox.journal)


def test_bursts_of_5xx(sandbox: Sandbox, tmp_path: Path) -> None:
    """SQLite only: the subject is the client's handling of 5xx, the same on either engine (re-sends from the log
    run on both in the timeout and lost-reply drills)."""
    sandbox.faults.error_rate = 0.5
    jobs = service(sandbox.url, sandbox.api_key, tmp_path, tmp_path / "drill.sqlite3")
    ids = submit_all(jobs)
    drain(jobs, timeout=10)
    sandbox.faults.error_rate = 0
    drain(jobs)
    assert_exactly_once(jobs, sandbox, ids)
    assert sum(e.status == 500 for e in sandbox.journal) >= 3


def test_timeouts(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    sandbox.faults.latency = 0.6  # longer than the client waits: every create times out...
    jobs = service(sandbox.url, sandbox.api_key, tmp_path, log_location, timeout=0.3)
    ids = submit_all(jobs)
    assert {jobs.log.get(i).status for i in ids} == {"submitting"}
    time.sleep(0.8)
    sandbox.faults.latency = 0  # ...but the service made them; the same keys recover them
    drain(jobs)
    assert_exactly_once(jobs, sandbox, ids)


def test_lost_create_responses(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    sandbox.faults.lost_create_rate = 1.0
    jobs = service(sandbox.url, sandbox.api_key, tmp_path, log_location)
    ids = submit_all(jobs)
    sandbox.faults.lost_create_rate = 0
    drain(jobs)
    assert_exactly_once(jobs, sandbox, ids)


def test_restart_with_jobs_in_flight(tmp_path: Path, log_location: Path | str) -> None:
    """The service's clock stands still until the restart, so no job can finish before ``stop()``, however loaded the
    machine (tasks move only as far as the test moves that clock)."""
    clock = ManualClock()
    with Sandbox(timing=FAST_TIMING, seed=3, clock=clock) as sandbox:
        first = service(sandbox.url, sandbox.api_key, tmp_path, log_location).start()
        ids = submit_all(first)
        first.stop()  # the process dies with every job still queued
        assert all(not first.log.get(i).is_done for i in ids)
        second = service(sandbox.url, sandbox.api_key, tmp_path, log_location).start()  # a fresh process, same data dir
        clock.advance(60)  # every task is done by the service's clock now
        try:
            deadline = time.monotonic() + 60  # a lease the stopped follower kept while a poll was out lasts 15 s
            while unsettled(second) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            second.stop()
        assert_exactly_once(second, sandbox, ids)


@pytest.fixture
def app_at(point_app) -> int:
    """A port where the app expects Rivya, with nothing listening there yet."""
    port = free_port()
    point_app(f"http://127.0.0.1:{port}", "rvya_sk_sandbox_local")
    return port


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("caption", "warning", "error", "markdown") for e in at.get(kind))


def test_service_down_at_start_then_back(app_at: int) -> None:
    port = app_at
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert "Rivya cannot be reached right now." in texts(at) and not at.exception
    at.switch_page("pages/image.py").run()
    at.text_area(key="grok-imagine:prompt").input("made while Rivya was down").run()
    at.button(key="grok-imagine:generate").click().run()
    assert "Sending" in texts(at) and "never charged twice" in texts(at) and not at.exception
    with Sandbox(port=port, timing=FAST_TIMING) as back:
        deadline = time.monotonic() + 30
        while "**Done**" not in texts(at) and time.monotonic() < deadline:
            time.sleep(0.5)
            at.run()
        assert "**Done**" in texts(at)
        assert [t.prompt for t in back.state.tasks.values()] == ["made while Rivya was down"]
        assert back.state.balance() == 996


def test_clear_message_while_rate_limited(app_at: int) -> None:
    port = app_at
    with Sandbox(port=port, faults=Faults(rate_limit_rate=1.0, retry_after=0.05)):
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        assert "Rivya is receiving too many requests right now." in texts(at) and not at.exception


def test_resends_back_off_while_the_service_is_off(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> None:
    sandbox.faults.public_api_disabled = True
    client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS, max_retries=0)
    jobs = JobService(client, TaskLog(log_location), tmp_path / "media", backend="drill")
    job = jobs.submit("grok-imagine", "patient", {}, idempotency_key="off")
    assert job.status == "submitting" and job.error_code == "public_api_disabled"
    started = time.monotonic()
    while time.monotonic() - started < 3.5:
        jobs.follow_once()
        time.sleep(0.05)
    creates = [e for e in sandbox.journal if e.path == "/api/v1/generations"]
    assert 2 <= len(creates) <= 4 and all(e.status == 503 for e in creates)  # not one per pass
    sandbox.faults.public_api_disabled = False
    jobs.recheck()
    drain(jobs)
    assert jobs.log.get(job.id).status == "succeeded" and len(sandbox.state.tasks) == 1


def test_a_create_in_flight_is_charged_once_and_shown_without_a_second_click(point_app) -> None:
    """The reply is lost, re-sends meet "409 still being processed", then the task replays: one job, one charge."""
    # The sandbox's clock moves only once a re-send has met the 409: on a loaded machine the first re-send could
    # otherwise come after the in-flight window and be answered by the replay, and the fault would not be drilled.
    clock = ManualClock()
    with Sandbox(timing=FAST_TIMING, seed=3, clock=clock) as sandbox:
        point_app(sandbox.url, sandbox.api_key)
        sandbox.hold_next_creates(1, seconds=1.5)
        at = AppTest.from_file(APP, default_timeout=30)
        at.run()
        at.switch_page("pages/image.py").run()
        at.text_area(key="grok-imagine:prompt").input("a fox in flight").run()
        at.button(key="grok-imagine:generate").click().run()
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not at.get("image"):
            seen.append(texts(at))
            if 409 in (j.status for j in sandbox.journal if j.path.endswith("/generations")):
                clock.advance(0.5)  # past the window in three steps, then the task runs its 0.3 s
            time.sleep(0.3)
            at.run()
        assert at.get("image"), texts(at)  # the result is shown with no second press
        shown = " ".join(seen)
        assert ("Not started" not in shown and "Press Generate again" not in shown
                and "no credits were charged" not in shown.lower())
        assert "Don't press Generate again" in shown  # while unconfirmed, the card says to wait
        assert [j.status for j in sandbox.journal if j.path.endswith("/generations")].count(409) >= 1  # the fault
        assert len(sandbox.state.tasks) == 1 and sandbox.state.balance() == 1000 - 4
