"""The follower's timetable on a clock the test moves: which job is due when, and in what order (no sleeps)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rivya import constants
from rivya.polling import PollSchedule, RequestBudget
from rivya.schedule import Timetable
from rivya.tasklog import Job, TaskLog
from rivya.typical import TypicalSeconds

from .conftest import ManualClock

CADENCE = PollSchedule()  # the documented one: first look 2-3 s after submit, then every 5-10 s
PLENTY = RequestBudget(rate=1000, burst=1000, step=0)


def row(job_id: int, at: float, *, status: str = "queued", category: str = "image", polls: int = 0,
        error_code: str | None = None, updated: float | None = None) -> Job:
    """A pending row as a pass reads it: submitted at ``at`` (clock seconds), last changed at ``updated``."""
    stamp = datetime.fromtimestamp(at, UTC).isoformat()
    changed = datetime.fromtimestamp(at if updated is None else updated, UTC).isoformat()
    return Job(
        id=job_id, idempotency_key=f"k{job_id}", backend="b", submitted_at=stamp, updated_at=changed, finished_at=None,
        model="grok-imagine-video" if category == "video" else "grok-imagine", category=category, prompt="p", params={},
        reference_path=None, reference_url=None, task_id=None if status == "submitting" else f"t{job_id}",
        status=status, reserved_credits=None, final_credits=None, result_urls=[], media_paths=[], error_code=error_code,
        error_message=None, page=None, session_id=None, polls=polls, key_owner="shared", expected_credits=4,
    )


@pytest.fixture
def clock() -> ManualClock:
    manual = ManualClock()
    manual.now = float(int(manual.now))  # whole seconds: a row's timestamp (microseconds) reads back exactly
    return manual


def ids(jobs: list[Job]) -> list[int]:
    return [job.id for job in jobs]


def test_first_looks_of_jobs_submitted_together_spread_over_the_2_to_3_second_window(clock: ManualClock) -> None:
    timetable = Timetable(CADENCE, clock=clock)
    jobs = [row(n, clock()) for n in range(1, 21)]
    assert timetable.take(jobs, PLENTY) == []  # nothing is due at submit
    offsets = [timetable.due_at(job.id) - clock() for job in jobs]
    assert all(2.0 <= offset <= 3.0 for offset in offsets)
    assert max(offsets) - min(offsets) > 0.6  # not all at the middle of the window
    clock.advance(3.0)
    assert ids(timetable.take(jobs, PLENTY)) == [job.id for job in sorted(jobs, key=lambda j: timetable.due_at(j.id))]


def test_due_jobs_are_taken_in_the_order_they_fell_due_and_once_until_done(clock: ManualClock) -> None:
    timetable = Timetable(CADENCE, clock=clock)
    jobs = [row(n, clock() - 60, polls=1) for n in range(1, 5)]
    for n, job in enumerate(jobs):  # the newest fell due first (e.g. the oldest were polled a moment ago)
        timetable.polled(job.id, 1, "image", pause=-n - 10)
    assert ids(timetable.take(jobs, PLENTY)) == [4, 3, 2, 1]  # not oldest first
    assert timetable.take(jobs, PLENTY) == [] and not timetable.idle  # being acted on: not taken twice
    timetable.done(3)
    timetable.polled(3, 2, "image")
    clock.advance(CADENCE.delay(2))
    assert ids(timetable.take(jobs, PLENTY)) == [3]


def test_when_the_budget_binds_the_job_expected_to_finish_first_goes_first(clock: ManualClock) -> None:
    timetable = Timetable(CADENCE, clock=clock)
    video, image = row(1, clock(), category="video"), row(2, clock() + 1)  # expected in ~30 s and ~11 s
    clock.advance(10)
    one = RequestBudget(rate=0.01, burst=1, step=0)  # room for exactly one request now
    assert ids(timetable.take([video, image], one)) == [image.id]  # not simply the oldest


def test_demand_over_the_budget_stretches_every_interval_evenly(clock: ManualClock) -> None:
    cadence = PollSchedule(first_delay=0.05, image_interval=0.5, image_max=0.5, video_interval=0.5, video_max=0.5)
    timetable = Timetable(cadence, clock=clock)
    jobs = [row(n, clock()) for n in range(1, 11)]
    clock.advance(1)
    taken = timetable.take(jobs, RequestBudget(rate=5, burst=10, step=0))  # the 10 jobs want 20 requests a second
    assert len(taken) == 10 and 4.0 < timetable.stretch < 5.0  # 20 / (0.9 × 5)
    for job in taken:
        timetable.polled(job.id, 1, "image")
        timetable.done(job.id)
    assert all(timetable.due_at(job.id) - clock() == pytest.approx(0.5 * timetable.stretch) for job in jobs)


def test_a_job_that_ended_while_a_pass_read_it_is_not_acted_on_again(clock: ManualClock) -> None:
    timetable = Timetable(CADENCE, clock=clock)
    job = row(1, clock())
    read_by_the_pass = [job]  # a pass reads the job as pending...
    timetable.ended(job.id)  # ...while a worker sees it end
    clock.advance(60)
    assert timetable.take(read_by_the_pass, PLENTY) == [] and timetable.due_at(job.id) == math.inf
    assert timetable.take([], PLENTY) == [] and timetable.due_at(job.id) is None  # gone once no pass holds it


def test_a_row_being_sent_waits_its_grace_and_one_left_by_a_failure_goes_at_once(clock: ManualClock) -> None:
    timetable = Timetable(CADENCE, clock=clock)
    sending, failed = row(1, clock(), status="submitting"), row(2, clock(), status="submitting", error_code="network")
    assert ids(timetable.take([sending, failed], PLENTY)) == [failed.id]
    clock.advance(constants.RESEND_GRACE)
    assert ids(timetable.take([sending, failed], PLENTY)) == [sending.id]


def test_resends_back_off_2_4_8_up_to_the_cap_and_a_skipped_one_is_not_an_attempt(clock: ManualClock) -> None:
    timetable = Timetable(CADENCE, clock=clock)
    delays = []
    for attempts in range(6):
        timetable.resend(1, attempts)
        delays.append(timetable.due_at(1) - clock())
    assert delays == [2, 4, 8, constants.RESEND_MAX_DELAY, constants.RESEND_MAX_DELAY, constants.RESEND_MAX_DELAY]
    timetable.resend_skipped(1, 1)
    assert timetable.due_at(1) - clock() == constants.RESEND_GRACE and timetable.attempt(1)[1] == 1


def test_a_job_taken_over_from_another_follower_goes_on_from_its_last_poll(clock: ManualClock) -> None:
    timetable = Timetable(CADENCE, clock=clock)
    job = row(1, clock() - 100, polls=3, updated=clock() - 1)
    timetable.take([job], PLENTY)
    assert timetable.due_at(job.id) == pytest.approx(clock() - 1 + CADENCE.delay(3))
    assert timetable.attempt(job.id)[1] == 3


def test_a_status_the_app_does_not_know_is_asked_about_slowly_then_parked_until_look_now(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "UNKNOWN_STATUS_MAX_POLLS", 3)
    timetable = Timetable(CADENCE, clock=clock)
    for polls in (1, 2):
        timetable.odd_status(1, polls)
        assert timetable.due_at(1) - clock() == constants.UNKNOWN_STATUS_INTERVAL
    timetable.odd_status(1, 3)
    assert timetable.due_at(1) == math.inf  # parked
    timetable.look_now([1])
    assert timetable.due_at(1) == 0.0
    timetable.odd_status(1, 4)
    assert timetable.due_at(1) - clock() == constants.UNKNOWN_STATUS_INTERVAL  # counting starts again


def test_a_create_answered_gets_its_first_look_in_the_window_from_now(clock: ManualClock) -> None:
    timetable = Timetable(CADENCE, clock=clock)
    timetable.created(7)
    assert timetable.due_at(7) - clock() == pytest.approx(CADENCE.first_look(7)) and timetable.attempt(7)[1] == 0


def _looks(timetable: Timetable, job: Job, clock: ManualClock, until: float) -> list[float]:
    """Seconds after submit of every look the timetable asks for, polling whenever a look falls due, up to ``until``."""
    start, looks = clock(), []
    while clock() - start < until:
        taken = timetable.take([job], PLENTY)
        if taken:
            looks.append(round(clock() - start, 2))
            timetable.polled(job.id, len(looks), job.category)
            timetable.done(job.id)
        clock.advance(0.05)
    return looks


def test_looks_near_and_past_the_typical_finish_keep_the_shortest_documented_spacing(clock: ManualClock) -> None:
    job = row(1, clock())
    looks = _looks(Timetable(CADENCE, clock=clock), job, clock, 40)
    typical = constants.EXPECTED_SECONDS["image"]
    assert 2.0 <= looks[0] <= 3.0  # the documented first look
    # The first look after the typical finish comes within the shortest spacing of it.
    assert next(look for look in looks if look >= typical) <= typical + 5.0 + 0.06
    gaps = [b - a for a, b in itertools.pairwise(looks)]
    assert all(5.0 - 0.06 <= gap <= 10.0 + 0.06 for gap in gaps)  # 5-10 s apart, never closer
    # A job overdue past its typical time is looked at every 5 s (the shortest documented spacing) for a while.
    overdue = [look for look in looks if typical < look <= 2 * typical]
    assert all(abs(b - a - 5.0) < 0.06 for a, b in itertools.pairwise(overdue)) and len(overdue) >= 2


def test_healthy_webhooks_relax_the_looks_and_their_loss_restores_the_documented_cadence(clock: ManualClock) -> None:
    timetable = Timetable(CADENCE, clock=clock)
    healthy = True
    timetable.relaxed = lambda: healthy
    timetable.created(1, "image")
    assert timetable.due_at(1) == clock() + constants.WEBHOOK_SAFETY_INTERVAL["image"]  # the event is expected first
    job = row(2, clock(), polls=1)
    timetable.take([job], PLENTY)
    timetable.polled(2, 1, "image")
    assert timetable.due_at(2) == clock() + constants.WEBHOOK_SAFETY_INTERVAL["image"]
    healthy = False
    timetable.tighten()  # deliveries stopped
    assert timetable.due_at(1) <= clock() + 3.0  # back inside the documented first-look window
    assert timetable.due_at(2) <= clock() + CADENCE.delay(1, category="image")


def _video(job_id: int, at: float, seconds: float | None, **params: object) -> Job:
    """A video row with these settings: pending, or succeeded after ``seconds``."""
    job = row(job_id, at, category="video")
    finished = None if seconds is None else datetime.fromtimestamp(at + seconds, UTC).isoformat()
    return replace(job, params=params, status="queued" if seconds is None else "succeeded", finished_at=finished)


def test_looks_are_placed_near_the_typical_finish_of_the_jobs_model_and_settings(clock: ManualClock) -> None:
    """A 30 s 720p video takes 60 s here (the log's own medians); the catalog's 30 s is for a video of unknown kind."""
    typical = TypicalSeconds(clock=clock)
    long_kind, short_kind = {"duration": 30, "resolution": "720p"}, {"duration": 6}
    typical.learn([_video(i, clock() - 100, 60.0 + i, **long_kind) for i in range(3)]
                  + [_video(10 + i, clock() - 100, 12.0, **short_kind) for i in range(3)])
    timetable = Timetable(CADENCE, clock=clock)
    timetable.typical = typical.seconds
    assert typical.seconds(_video(20, clock(), None, **short_kind)) == 12.0  # 480p is the default: the same kind
    assert typical.seconds(_video(21, clock(), None, duration=12)) == constants.EXPECTED_SECONDS["video"]  # unseen
    looks = _looks(timetable, _video(22, clock(), None, **long_kind), clock, 130)
    expected = 61.0  # the median of 60, 61, 62
    # Not drawn to the catalog's 30 s: no look is pulled in to the shortest spacing between 30 and the kind's finish...
    early = [look for look in looks if 30.0 <= look <= expected]
    assert any(b - a > 10.0 + 0.06 for a, b in itertools.pairwise(early))
    # ...and the first look after the kind's own finish comes within the shortest spacing of it, then every 10 s.
    assert next(look for look in looks if look >= expected) <= expected + 10.0 + 0.06
    overdue = [look for look in looks if expected < look <= 2 * expected]
    assert all(abs(b - a - 10.0) < 0.06 for a, b in itertools.pairwise(overdue)) and len(overdue) >= 2


def test_the_typical_seconds_are_read_from_the_log_at_most_once_a_minute(clock: ManualClock, tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    typical = TypicalSeconds(clock=clock)
    start = datetime.fromtimestamp(clock() - 200, UTC).isoformat()
    ids = [log.add(idempotency_key=f"v{n}", backend="b", model="grok-imagine-video", category="video", prompt="p",
                   params={"duration": 30}, submitted_at=start).id for n in range(3)]

    def all_took(seconds: float) -> None:
        for job_id in ids:
            log.update(job_id, status="succeeded", finished_at=datetime.fromtimestamp(clock() - 200 + seconds, UTC).isoformat())

    pending = _video(99, clock(), None, duration=30)
    all_took(50)
    typical.refresh(log)
    assert typical.seconds(pending) == 50.0
    all_took(100)
    typical.refresh(log)  # within the minute: not read again
    assert typical.seconds(pending) == 50.0
    clock.advance(constants.TYPICAL_REFRESH_SECONDS)
    typical.refresh(log)
    assert typical.seconds(pending) == 100.0
    log.close()
