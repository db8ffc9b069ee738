"""The follower keeps the cadence for many jobs: an adaptive shared budget, even stretching, sensible order."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from rivya import RivyaClient, constants
from rivya.constants import FOLLOW_TICK, RESEND_GRACE
from rivya.jobs import Clock, JobService
from rivya.polling import PollSchedule, RequestBudget
from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import TaskLog

from .conftest import FAST_POLLS, FAST_TIMING, ManualClock, creates


def test_the_budget_halves_on_a_429_and_recovers_slowly() -> None:
    budget = RequestBudget(rate=40, burst=4, floor=1, step=10, recover_after=0.2)
    budget.pause(0.05)
    assert budget.rate == 20 and not budget.try_acquire()  # paused for Retry-After
    budget.pause(0.05)
    assert budget.rate == 10
    time.sleep(0.25)
    budget.try_acquire()
    assert budget.rate == 20  # one step back after a quiet spell, not straight to the top
    time.sleep(0.25)
    budget.try_acquire()
    time.sleep(0.25)
    budget.try_acquire()
    assert budget.rate == 40  # and never above where it started
    for _ in range(20):
        budget.pause(0)
    assert budget.rate == 1  # nor below its floor


def service(
    sandbox: Sandbox, tmp_path: Path, where: Path | str, budget: RequestBudget, schedule: PollSchedule = FAST_POLLS,
    clock: Clock = time,
) -> JobService:
    """A service on the log at ``where`` (the ``log_location`` fixture: each test runs on SQLite and PostgreSQL)."""
    client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=schedule)
    return JobService(client, TaskLog(where), tmp_path / "media", backend="sandbox", budget=budget, clock=clock)


# The timetable's own rules (order, budget, stretch, tombstones) are tested on a moved clock in test_schedule.py;
# these run them through the whole follower, against the sandbox.


def test_when_the_budget_binds_the_job_expected_to_finish_first_goes_first(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    jobs = service(sandbox, tmp_path, log_location, RequestBudget(rate=0.01, burst=3, step=0))
    video = jobs.submit("grok-imagine-video", "a long clip", {}, idempotency_key="v")  # expected in ~30 s
    image = jobs.submit("grok-imagine", "a quick still", {}, idempotency_key="i")  # expected in ~10 s
    time.sleep(0.1)
    polled_before = {e.task_id for e in sandbox.journal if e.method == "GET"}
    assert jobs.follow_once() == 1  # the two creates took two of the three requests: room for exactly one now
    polled = {e.task_id for e in sandbox.journal if e.method == "GET"} - polled_before
    assert polled == {image.task_id}, (video.task_id, image.task_id)  # not simply the oldest


def test_demand_over_the_budget_stretches_every_interval_evenly(tmp_path: Path, log_location: Path | str) -> None:
    with Sandbox(timing=Timing(image_queued=5, image_processing=30)) as sandbox:
        _stretch(sandbox, tmp_path, log_location)


def _stretch(sandbox: Sandbox, tmp_path: Path, where: Path | str) -> None:
    clock = ManualClock()
    schedule = PollSchedule(first_delay=0.05, image_interval=0.5, image_max=0.5, video_interval=0.5, video_max=0.5)
    on_clock = SimpleNamespace(time=clock, monotonic=clock)
    # 20 requests at once: the 10 creates, then the 10 first polls; the 10 jobs then want 20 requests a second.
    jobs = service(sandbox, tmp_path, where, RequestBudget(rate=5, burst=20, step=0), schedule, on_clock)
    ids = [jobs.submit("grok-imagine", f"fox {n}", {}, idempotency_key=f"s{n}").id for n in range(10)]
    clock.advance(1)
    assert jobs.follow_once() == 10
    assert 4.0 < jobs.timetable.stretch < 5.0  # 20 / (0.9 × 5)
    due = [jobs.timetable.due_at(i) for i in ids]
    assert all(d == pytest.approx(clock() + 0.5 * jobs.timetable.stretch) for d in due)  # all pushed back alike


def test_first_looks_of_jobs_submitted_together_spread_over_the_2_to_3_second_window(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    clock = ManualClock()
    schedule = PollSchedule()  # the documented cadence
    jobs = service(sandbox, tmp_path, log_location, RequestBudget(rate=100, burst=100, step=0), schedule,
                   SimpleNamespace(time=clock, monotonic=clock))
    offsets = [jobs.timetable.due_at(jobs.submit("grok-imagine", f"fox {n}", {}, idempotency_key=f"w{n}").id) - clock()
               for n in range(20)]  # seconds from each create's answer to its first look
    assert all(2.0 <= offset <= 3.0 for offset in offsets)  # inside the window
    assert max(offsets) - min(offsets) > 0.6  # not all at its middle


def test_a_job_that_ended_while_a_pass_read_it_is_not_polled_again(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    jobs = service(sandbox, tmp_path, log_location, RequestBudget(rate=100, burst=100, step=0))
    job = jobs.submit("grok-imagine", "a fox", {}, idempotency_key="e")
    read_by_the_pass = jobs.held.pending()  # a pass reads the job as pending...
    deadline = time.monotonic() + 15
    while not jobs.log.get(job.id).is_done and time.monotonic() < deadline:
        jobs.follow_once()  # ...while a worker sees it end
        time.sleep(0.05)
    assert jobs.log.get(job.id).status == "succeeded"
    # The pass goes on with what it read (by now the job's first look would long be due).
    assert jobs.timetable.take(read_by_the_pass, jobs.budget) == []  # no fresh schedule for a job that ended


def test_the_budget_hands_out_what_it_has_at_once() -> None:
    budget = RequestBudget(rate=0.01, burst=3, step=0)
    assert budget.acquire_up_to(5) == 3  # all it holds, in one step
    assert budget.acquire_up_to(5) == 0


# -- re-sends of a create whose reply was lost, on a clock the test moves ------------------------------------------
# SQLite only: the subject is the follower's schedule, the same on either engine.


def confirm(jobs: JobService, job_id: int, clock: ManualClock, *, within: float) -> float:
    """Step the follower one tick at a time until the row names its task; returns the clock's seconds it took."""
    started = clock()
    while clock() - started <= within:
        clock.advance(FOLLOW_TICK)
        jobs.follow_once()
        if jobs.log.get(job_id).task_id is not None:
            return clock() - started
    raise AssertionError(f"not confirmed within {within} s: {jobs.log.get(job_id)}")


def test_a_lost_reply_is_confirmed_within_15_s_of_the_service_answering(
    tmp_path: Path
) -> None:
    """The create made the task and its reply was lost; the key then stays "still being processed" (409) for 40 s.
    Re-sends back off, but never so far that the replay, once the service gives it, waits more than 15 s."""
    clock = ManualClock()
    with Sandbox(timing=FAST_TIMING, clock=clock) as sandbox:
        jobs = service(sandbox, tmp_path, tmp_path / "log.sqlite3", RequestBudget(rate=100, burst=50),
                       clock=SimpleNamespace(time=clock, monotonic=clock))
        sandbox.hold_next_creates(1, seconds=40)
        job = jobs.submit("grok-imagine", "a fox in flight", {}, idempotency_key="held")
        assert job.status == "submitting" and job.error_code == "network"
        answering = clock() + 40
        while clock() < answering:  # the service says "still being processed" to every re-send meanwhile
            clock.advance(FOLLOW_TICK)
            jobs.follow_once()
        assert {e.status for e in creates(sandbox)[1:]} == {409}
        assert confirm(jobs, job.id, clock, within=60) <= 15
        assert constants.RESEND_MAX_DELAY + FOLLOW_TICK <= 15  # the bound that makes this hold for any hold time
        assert len(sandbox.state.tasks) == 1 and sandbox.balance() == 1000 - 4


def test_resends_skipped_while_a_page_holds_the_key_do_not_grow_the_back_off(
    tmp_path: Path
) -> None:
    """A page's create hangs for 40 s with the key held; the follower's re-sends meanwhile are skipped (nothing is sent
    twice at once) and are not attempts. When the page's send ends without a reply, the follower re-sends within its
    grace, not after a back-off grown by the skipped ones."""
    clock = ManualClock()
    with Sandbox(timing=FAST_TIMING, clock=clock) as sandbox:
        jobs = service(sandbox, tmp_path, tmp_path / "log.sqlite3", RequestBudget(rate=100, burst=50),
                       clock=SimpleNamespace(time=clock, monotonic=clock))
        real, release = jobs.client.create_generation, threading.Event()

        def hanging(*args: object, **kwargs: object) -> object:
            if threading.current_thread() is page:
                assert release.wait(60), "the test never released the page's create"
            return real(*args, **kwargs)

        jobs.client.create_generation = hanging
        sandbox.lose_next_creates(1)  # the page's create, once it goes, makes the task and loses its reply
        page = threading.Thread(target=jobs.submit, args=("grok-imagine", "a fox on a slow line", {}),
                                kwargs={"idempotency_key": "slow"})
        page.start()
        deadline = time.monotonic() + 30
        while jobs.log.by_key("slow") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        job = jobs.log.by_key("slow")
        for _ in range(int(40 / FOLLOW_TICK)):  # 40 s of passes while the page holds the key
            clock.advance(FOLLOW_TICK)
            jobs.follow_once()
        assert creates(sandbox) == []  # every one of the follower's re-sends was skipped
        release.set()
        page.join(30)
        assert not page.is_alive() and jobs.log.get(job.id).error_code == "network"
        assert confirm(jobs, job.id, clock, within=60) <= RESEND_GRACE + FOLLOW_TICK
        assert len(sandbox.state.tasks) == 1 and sandbox.balance() == 1000 - 4
