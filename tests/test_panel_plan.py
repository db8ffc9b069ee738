"""The job panel's plan (``rivya.panel``): which jobs are live, which batch hosts the live part, the refresh pace.

Plain values in, decisions out: no log, no Streamlit, no clock but the one given.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rivya.constants import FAST_REFRESH_SECONDS, SLOW_REFRESH_SECONDS
from rivya.panel import plan_panel
from rivya.status import TERMINAL
from rivya.tasklog import Job
from rivya.typical import TypicalSeconds

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
EXPECTED = TypicalSeconds(clock=lambda: 0.0).seconds  # nothing learnt: the catalog's expected seconds per category


def job(
    job_id: int, sent_ago: float = 1, status: str = "processing", *, batch: str | None = None, category: str = "image",
    took: float = 5, saved: bool = True, params: dict[str, object] | None = None,
) -> Job:
    """Log row ``job_id`` sent ``sent_ago`` seconds before NOW; finished after ``took`` seconds if its status is final,
    its result saved here unless ``saved`` is false."""
    sent = NOW - timedelta(seconds=sent_ago)
    done = status in TERMINAL
    urls = [f"https://cdn.example/{job_id}.png"] if status == "succeeded" else []
    return Job(
        id=job_id, idempotency_key=f"k{job_id}", backend="sandbox", submitted_at=sent.isoformat(),
        updated_at=sent.isoformat(), finished_at=(sent + timedelta(seconds=took)).isoformat() if done else None,
        model="grok-imagine" if category == "image" else "grok-imagine-video", category=category,
        prompt=f"prompt {job_id}", params=params or {}, reference_path=None,
        reference_url=None, task_id=f"t{job_id}", status=status, reserved_credits=4, final_credits=None,
        result_urls=urls, media_paths=[f"/media/{job_id}-0.png"] if urls and saved else [], error_code=None,
        error_message=None, page="image", session_id=None, polls=0, key_owner="team", expected_credits=4, batch_id=batch,
    )


def ids(jobs: object) -> list[int]:
    return [j.id for j in jobs]  # type: ignore[attr-defined]


def test_nothing_live_means_no_refresh_and_the_newest_result_full_size() -> None:
    jobs = [job(3, 60, "succeeded"), job(2, 90, "failed"), job(1, 120, "succeeded")]
    plan = plan_panel(jobs, [3], EXPECTED, NOW)
    assert plan.interval is None and plan.host is None and not plan.live_above
    assert ids(plan.settled) == [3, 2, 1] and plan.watched == (3,)
    assert [ids(g.page_drawn) for g in plan.groups] == [[3], [2], [1]]
    assert [g.full_size for g in plan.groups] == [True, False, False]  # only the newest result is read whole
    assert not plan.live_cards(jobs)


def test_a_running_job_on_its_own_is_drawn_live_above_the_finished_list() -> None:
    jobs = [job(4, 1, "queued"), job(3, 60, "succeeded")]
    plan = plan_panel(jobs, [], EXPECTED, NOW)
    assert plan.live_above and plan.host is None and plan.interval == SLOW_REFRESH_SECONDS
    assert [ids(g.page_drawn) for g in plan.groups] == [[], [3]]  # the page run leaves the running job to the live part
    assert plan.groups[1].full_size
    assert plan.watched == (4,)  # a refresh re-reads it even once it leaves the model's newest jobs
    newcomer = job(5, 0, "submitting")  # someone's job sent since the page run: the live part draws it too
    assert ids(plan.live_cards([newcomer, *jobs])) == [5, 4]


def test_a_live_batch_hosts_the_live_part_in_its_own_box() -> None:
    takes = [job(7, 2, "processing", batch="b"), job(6, 2, "queued", batch="b"), job(5, 2, "succeeded", batch="b")]
    jobs = [*takes, job(4, 60, "succeeded")]
    plan = plan_panel(jobs, [7, 6, 5], EXPECTED, NOW)
    assert plan.host == "b" and plan.host_size == 3 and not plan.live_above and plan.batches == {"b"}
    box, single = plan.groups
    assert box.is_batch and box.hosts_live and ids(box.page_drawn) == [5]  # its finished take; the others are live
    assert box.first.id == 5 and box.on_their_way == 2
    assert not single.is_batch and ids(single.page_drawn) == [4]
    assert not single.full_size  # the newest finished result is take 5, a thumbnail in its grid: no other is full size
    assert ids(plan.live_cards(jobs)) == [7, 6]
    assert plan.watched == (7, 6, 5, 7, 6)  # followed, then the running takes


def test_only_the_newest_running_batch_is_live_the_other_is_drawn_by_the_page_run() -> None:
    newer = [job(9, 1, "queued", batch="new"), job(8, 1, "queued", batch="new")]
    older = [job(6, 3, "processing", batch="old"), job(5, 3, "succeeded", batch="old")]
    plan = plan_panel([*newer, *older], [], EXPECTED, NOW)
    assert plan.host == "new" and plan.host_size == 2
    new_box, old_box = plan.groups
    assert new_box.hosts_live and not new_box.page_drawn
    assert not old_box.hosts_live and ids(old_box.page_drawn) == [5, 6]  # running take too; take 1 first
    assert ids(plan.live_cards([*newer, *older])) == [9, 8]


def test_a_running_job_on_its_own_keeps_the_live_part_above_every_batch() -> None:
    jobs = [job(9, 1, "queued"), job(8, 1, "queued", batch="b"), job(7, 1, "processing", batch="b")]
    plan = plan_panel(jobs, [], EXPECTED, NOW)
    assert plan.live_above and plan.host is None
    single, box = plan.groups
    assert not single.page_drawn and ids(box.page_drawn) == [7, 8]  # the batch's running takes: drawn by the page run
    assert ids(plan.live_cards(jobs)) == [9]


def test_a_batch_of_one_is_an_ordinary_job() -> None:
    jobs = [job(3, 1, "queued", batch="one"), job(2, 60, "succeeded", batch="pair"), job(1, 60, "succeeded", batch="pair")]
    plan = plan_panel(jobs, [], EXPECTED, NOW)
    assert plan.batches == {"pair"} and plan.live_above and plan.host is None
    assert not plan.groups[0].is_batch and ids(plan.live_cards(jobs)) == [3]
    assert not any(g.full_size for g in plan.groups)  # the newest result is a take: drawn in its grid, as a thumbnail


def test_the_pace_is_fast_near_the_expected_finish_and_slows_for_long_video_jobs() -> None:
    def pace(*jobs: Job) -> float | None:
        return plan_panel(list(jobs), [], EXPECTED, NOW).interval

    assert pace(job(1, 1, "queued")) == SLOW_REFRESH_SECONDS  # an image usually takes 10 s: far from done
    assert pace(job(1, 8)) == FAST_REFRESH_SECONDS  # within 3 s of it
    assert pace(job(1, 40)) == SLOW_REFRESH_SECONDS  # past 3x: no expected finish left
    video = {"category": "video"}
    assert pace(job(1, 8, **video)) == SLOW_REFRESH_SECONDS  # a video usually takes 30 s
    assert pace(job(1, 40, **video)) == FAST_REFRESH_SECONDS
    assert pace(job(1, 100, **video)) == SLOW_REFRESH_SECONDS  # a long video job: slow again
    saving = job(1, 100, "succeeded", saved=False)  # succeeded, its result not saved here yet
    assert pace(saving) == FAST_REFRESH_SECONDS
    assert pace(job(2, 1, "queued"), job(1, 9)) == FAST_REFRESH_SECONDS  # the soonest job sets the pace


def test_each_card_is_timed_by_the_followers_rule_for_its_model_and_settings() -> None:
    """The panel asks ``rivya.typical`` (the rule the follower places its looks by): a job's own kind, learnt from
    the log's finished jobs once there are three, else the catalog's expected seconds for its category."""
    long, short = {"duration": 10, "resolution": "720p"}, {"duration": 6}
    typical = TypicalSeconds(clock=lambda: 0.0)
    typical.learn([*(job(n, 300, "succeeded", category="video", took=took, params=long)
                     for n, took in ((13, 60), (12, 64), (11, 62))),
                   job(10, 300, "succeeded", category="video", took=12, params=short)])
    running_long = job(5, 60, category="video", params=long)  # 60 s: near its kind's 62 s
    running_short = job(4, 50, category="video", params=short)  # one finished of its kind: the expected 30 s
    plan = plan_panel([running_long], [], typical.seconds, NOW)
    assert plan.typical(running_long) == 62.0 and plan.interval == FAST_REFRESH_SECONDS
    assert plan.typical(running_short) == 30.0
    assert plan_panel([running_short], [], typical.seconds, NOW).interval == FAST_REFRESH_SECONDS  # 50 s of 30 s
    assert plan_panel([running_long], [], EXPECTED, NOW).interval == FAST_REFRESH_SECONDS  # late against 30 s too
    assert plan_panel([job(6, 28, category="video", params=long)], [], typical.seconds, NOW).interval \
        == SLOW_REFRESH_SECONDS  # 28 s of 62 s: far from done (near the expected 30 s by the category alone)
    assert plan_panel([job(6, 28, category="video", params=long)], [], EXPECTED, NOW).interval == FAST_REFRESH_SECONDS


def test_a_refresh_becomes_a_page_run_when_a_job_settles_or_the_pace_changes() -> None:
    running, done = job(2, 1, "queued"), job(1, 60, "failed")
    plan = plan_panel([running, done], [], EXPECTED, NOW)
    assert not plan.needs_page_run([running, done], NOW)  # nothing new: a cheap refresh
    assert plan.needs_page_run([job(2, 1, "failed"), done], NOW)  # its card joins the finished list
    assert plan.needs_page_run([running, done], NOW + timedelta(seconds=7))  # near its finish: the timer is re-armed
    assert not plan.needs_page_run([job(3, 0, "queued"), running, done], NOW)  # a newcomer is drawn live as it is

