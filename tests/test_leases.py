"""The follower's leases: on one PostgreSQL log several app replicas follow jobs, and each job has one follower.

``TaskLog.claim`` hands each holder the unfinished jobs nobody else holds (``FOR UPDATE SKIP LOCKED``), a lease lasts
``constants.LEASE_SECONDS`` unless renewed, ``release`` gives a stopping replica's jobs away at once, and ``hold``
keeps a job with the replica that submitted it. Time is moved with ``claim(..., now=...)`` rather than slept through.
On SQLite the one process holding the follower lock is the only claimant, and every unfinished job is its own.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from rivya import RivyaClient, constants
from rivya.jobs import JobService
from rivya.polling import PollSchedule, RequestBudget
from rivya.resources import Generation
from rivya.sandbox import Sandbox, Timing
from rivya.status import JobStatus
from rivya.tasklog import TaskLog

from .conftest import FAST_POLLS

BACKEND = "sandbox"
LEASE = constants.LEASE_SECONDS


def add_jobs(log: TaskLog, prefix: str, count: int, backend: str = BACKEND) -> list[int]:
    """Unfinished rows (``submitting``), as pages write them before sending."""
    return [
        log.add(idempotency_key=f"{prefix}-{n}", backend=backend, model="grok-imagine", category="image",
                prompt=f"{prefix} {n}", params={}, expected_credits=4).id
        for n in range(count)
    ]


def ids(claimed: list[tuple[int, str]]) -> set[int]:
    return {job_id for job_id, _ in claimed}


def service(sandbox: Sandbox, tmp_path: Path, where: str, schedule: PollSchedule = FAST_POLLS) -> JobService:
    """One replica's service: its own client, connections and lease holder, on the shared log and media folder."""
    client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=schedule)
    return JobService(client, TaskLog(where), tmp_path / "media", backend=BACKEND, budget=RequestBudget(rate=200, burst=100))


def spy_polls(jobs: JobService, name: str, seen: dict[str, list[tuple[str, float]]]) -> None:
    """Record which service asked for each task's status, and when (wall clock); the request itself goes out as usual."""
    real = jobs.client.get_generation

    def get_generation(task_id: str) -> Generation:
        seen[task_id].append((name, time.time()))
        return real(task_id)

    jobs.client.get_generation = get_generation  # type: ignore[method-assign]


def settled(log: TaskLog) -> bool:
    return not log.pending(BACKEND) and not log.unsaved(BACKEND)


# -- the log's promise ------------------------------------------------------------------------------------------------


def test_on_sqlite_every_claimant_gets_every_unfinished_job(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    pending = add_jobs(log, "p", 4)
    log.update(pending[0], status=JobStatus.SUCCEEDED)
    add_jobs(log, "other", 2, backend="elsewhere")
    assert ids(log.claim(BACKEND, "a")) == ids(log.claim(BACKEND, "b")) == set(pending[1:])
    assert log.claim(BACKEND, "a") == [(j.id, j.updated_at) for j in log.pending(BACKEND)]
    assert log.hold(pending, "b") == set(pending)  # nothing to hold against: one process follows a SQLite log
    log.release("a")
    assert ids(log.claim(BACKEND, "c", now=time.time() + 10 * LEASE)) == set(pending[1:])


def test_two_holders_get_disjoint_jobs_and_together_all(postgres_url: str) -> None:
    log = TaskLog(postgres_url)
    now = time.time()
    first = add_jobs(log, "first", 5)
    add_jobs(log, "other", 3, backend="elsewhere")  # another backend's jobs are not this follower's
    assert ids(log.claim(BACKEND, "a", now=now)) == set(first)
    assert log.claim(BACKEND, "b", now=now) == []  # all held by a
    second = add_jobs(log, "second", 4)
    assert ids(log.claim(BACKEND, "b", now=now + 1)) == set(second)  # only the free ones
    assert ids(log.claim(BACKEND, "a", now=now + 2)) == set(first)  # a renews its own, never takes b's
    assert ids(log.claim(BACKEND, "b", now=now + 3)) == set(second)


def test_claims_racing_in_threads_split_the_jobs(postgres_url: str) -> None:
    """Eight replicas claim at the same instant, again and again, while jobs end meanwhile: no job has two holders,
    every unfinished job has one, and no claim fails (no deadlock between claimants and the writers of results)."""
    log = TaskLog(postgres_url)
    holders = [f"h{n}" for n in range(8)]
    start = threading.Barrier(len(holders) + 1)

    def claim(holder: str) -> set[int]:
        start.wait()
        return ids(log.claim(BACKEND, holder))

    def finish(job_ids: list[int]) -> None:
        start.wait()
        for job_id in job_ids:  # a follower writing results while the claims run
            log.update(job_id, status=JobStatus.SUCCEEDED)

    with ThreadPoolExecutor(len(holders) + 1) as pool:
        for round_ in range(8):
            add_jobs(log, f"r{round_}", 15)
            before = {j.id for j in log.pending(BACKEND)}
            ending = pool.submit(finish, sorted(before)[::4])
            results = list(pool.map(claim, holders))
            ending.result()
            claimed = [job_id for result in results for job_id in result]
            assert len(claimed) == len(set(claimed)), f"round {round_}: a job claimed twice"
            assert {j.id for j in log.pending(BACKEND)} <= set(claimed) <= before


def test_a_claim_skips_a_lease_another_claim_has_locked(postgres_url: str) -> None:
    """A replica never waits on another's claim in progress: the row that claim has locked is skipped."""
    name = make_url(postgres_url).database
    with psycopg.connect(make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET lock_timeout = \'2s\'')  # waiting for a lock would fail the claim
    log = TaskLog(postgres_url)
    jobs = add_jobs(log, "j", 4)
    now = time.time()
    assert ids(log.claim(BACKEND, "a", now=now)) == set(jobs)
    later = now + LEASE + 1  # a's leases ran out: b may take every job
    with psycopg.connect(make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)) as other:
        other.execute("SELECT job_id FROM leases WHERE job_id = %s FOR UPDATE", (jobs[0],))  # a claim in progress
        assert ids(log.claim(BACKEND, "b", now=later)) == set(jobs[1:])
    assert ids(log.claim(BACKEND, "b", now=later)) == set(jobs)  # once that claim is over, the row is free again


def test_a_lease_not_renewed_goes_to_another_holder(postgres_url: str) -> None:
    log = TaskLog(postgres_url)
    jobs = set(add_jobs(log, "j", 3))
    now = time.time()
    assert ids(log.claim(BACKEND, "a", now=now)) == jobs
    assert log.claim(BACKEND, "b", now=now + LEASE - 0.01) == []  # a's lease still runs
    assert ids(log.claim(BACKEND, "a", now=now + 10)) == jobs  # a renews it...
    assert log.claim(BACKEND, "b", now=now + LEASE + 1) == []  # ...so it runs LEASE_SECONDS from the renewal
    assert ids(log.claim(BACKEND, "b", now=now + 10 + LEASE + 0.01)) == jobs  # a went quiet: b takes over
    assert log.claim(BACKEND, "a", now=now + 10 + LEASE + 0.02) == []  # and a, back, does not take them back


def test_release_hands_the_jobs_over_at_once_and_finished_jobs_lose_their_leases(postgres_url: str) -> None:
    log = TaskLog(postgres_url)
    jobs = add_jobs(log, "j", 3)
    now = time.time()
    assert ids(log.claim(BACKEND, "a", now=now)) == set(jobs)
    log.release("a")  # a stops cleanly
    assert ids(log.claim(BACKEND, "b", now=now)) == set(jobs)  # no wait for the lease to run out
    log.update(jobs[0], status=JobStatus.SUCCEEDED)
    assert ids(log.claim(BACKEND, "b", now=now)) == set(jobs[1:])
    assert [r[0] for r in log.read("SELECT job_id FROM leases ORDER BY job_id")] == jobs[1:]


def test_hold_keeps_a_new_job_with_its_submitter(postgres_url: str) -> None:
    log = TaskLog(postgres_url)
    mine, theirs = add_jobs(log, "mine", 2), add_jobs(log, "theirs", 1)
    assert log.hold(mine, "a") == set(mine)
    assert ids(log.claim(BACKEND, "b")) == set(theirs)  # b takes only what nobody holds
    assert log.hold(theirs, "a") == set()  # b is alive and holds it
    assert log.hold(mine, "a") == set(mine)  # holding again is renewing


# -- replicas' services on one log, against the sandbox ----------------------------------------------------------------


def test_a_job_is_followed_by_the_service_that_submitted_it_until_that_one_stops(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "LEASE_RENEW", 0.05)  # the other service claims at every pass
    with Sandbox(timing=Timing(image_queued=0.5, image_processing=0.5)) as sandbox:
        a, b = service(sandbox, tmp_path, postgres_url), service(sandbox, tmp_path, postgres_url)
        seen: dict[str, list[tuple[str, float]]] = defaultdict(list)
        spy_polls(a, "a", seen)
        spy_polls(b, "b", seen)
        job = a.submit("grok-imagine", "a's fox", {}, idempotency_key="a-1")
        b.follow_once()
        assert b.log.claim(BACKEND, b.holder) == []  # held by a from the moment it was logged
        deadline = time.monotonic() + 20
        while a.log.get(job.id).polls < 1 and time.monotonic() < deadline:
            b.follow_once()
            a.follow_once()
            time.sleep(0.02)
        assert [name for name, _ in seen[job.task_id]] == ["a"] and not a.log.get(job.id).is_done
        until = a.log.read("SELECT until FROM leases WHERE job_id = ?", (job.id,))[0][0]
        a.stop()  # a clean stop: b takes the job at once, long before a's lease would have run out
        while not settled(b.log) and time.monotonic() < deadline:
            b.follow_once()
            time.sleep(0.02)
        assert b.log.get(job.id).status == JobStatus.SUCCEEDED
        assert [name for name, _ in seen[job.task_id]][:2] == ["a", "b"] and seen[job.task_id][1][1] < until


def test_two_services_poll_each_job_exactly_once_between_them(
    sandbox: Sandbox, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "LEASE_RENEW", 0.3)  # renewals (and looks for free jobs) come between passes
    a, b = service(sandbox, tmp_path, postgres_url), service(sandbox, tmp_path, postgres_url)
    seen: dict[str, list[tuple[str, float]]] = defaultdict(list)
    spy_polls(a, "a", seen)
    spy_polls(b, "b", seen)
    by_a = [a.submit("grok-imagine", f"a {n}", {}, idempotency_key=f"a-{n}").id for n in range(3)]
    by_b = [b.submit("grok-imagine", f"b {n}", {}, idempotency_key=f"b-{n}").id for n in range(3)]
    # Rows a page logged and never sent (its replica died): whichever service claims one sends it, once.
    orphans = [a.log.update(i, error_code="network").id for i in add_jobs(a.log, "orphan", 4)]
    deadline = time.monotonic() + 30
    while not settled(a.log) and time.monotonic() < deadline:
        a.follow_once()
        b.follow_once()
        time.sleep(0.02)
    rows = {i: a.log.get(i) for i in by_a + by_b + orphans}
    assert all(row.status == JobStatus.SUCCEEDED for row in rows.values()), rows
    pollers = {i: {name for name, _ in seen[row.task_id]} for i, row in rows.items()}
    assert all(len(names) == 1 for names in pollers.values()), pollers  # never both
    assert all(pollers[i] == {"a"} for i in by_a) and all(pollers[i] == {"b"} for i in by_b)
    creates = [e.idempotency_key for e in sandbox.journal if e.method == "POST" and e.path == "/api/v1/generations"]
    assert sorted(creates) == sorted(row.idempotency_key for row in rows.values())  # each sent exactly once
    assert all(len(seen[row.task_id]) == row.polls for row in rows.values())  # every poll recorded, none doubled


def test_after_a_crash_the_other_service_takes_over_on_the_same_cadence(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stops without releasing (a crash): once its leases run out, B polls its jobs, continuing A's cadence from
    the last poll A logged rather than looking again at once, and finishes them."""
    monkeypatch.setattr(constants, "LEASE_SECONDS", 1.0)  # shorter than the interval: b takes over before a poll is due
    monkeypatch.setattr(constants, "LEASE_RENEW", 0.05)
    schedule = PollSchedule(first_delay=0.3, image_interval=2.0, image_max=2.0, first_spread=0.0)
    with Sandbox(timing=Timing(image_queued=1.5, image_processing=2.0)) as sandbox:
        a, b = service(sandbox, tmp_path, postgres_url, schedule), service(sandbox, tmp_path, postgres_url, schedule)
        seen: dict[str, list[tuple[str, float]]] = defaultdict(list)
        spy_polls(a, "a", seen)
        spy_polls(b, "b", seen)
        jobs = [a.submit("grok-imagine", f"fox {n}", {}, idempotency_key=f"c-{n}") for n in range(3)]
        deadline = time.monotonic() + 30
        while min(a.log.get(j.id).polls for j in jobs) < 2 and time.monotonic() < deadline:
            a.follow_once()
            b.follow_once()
            time.sleep(0.02)
        # A dies here: no more passes, no release. Its leases run until:
        until = max(r[0] for r in a.log.read("SELECT until FROM leases"))
        assert all(name == "a" for polls in seen.values() for name, _ in polls)
        while not settled(b.log) and time.monotonic() < deadline:
            b.follow_once()
            time.sleep(0.02)
        rows = [b.log.get(j.id) for j in jobs]
        assert all(row.status == JobStatus.SUCCEEDED and row.media_paths for row in rows), rows
        for row in rows:
            polls = seen[row.task_id]
            names = [name for name, _ in polls]
            assert names[:2] == ["a", "a"] and set(names[2:]) == {"b"}, names  # a's two polls, then b's only
            assert polls[2][1] >= until  # b waited for a's lease to run out
            # No poll came early, the first after the takeover included: b went on from a's last poll (its row's
            # updated_at), one interval later, instead of looking again as soon as it took the job.
            gaps = [later - earlier for (_, earlier), (_, later) in pairwise(polls)]
            assert all(gap >= schedule.delay(n + 1) - 0.05 for n, gap in enumerate(gaps)), gaps
            assert row.polls == len(polls)


def test_a_job_submitted_while_the_follower_claims_is_followed_without_waiting_for_the_next_claim(
    sandbox: Sandbox, tmp_path: Path, postgres_url: str
) -> None:
    jobs = service(sandbox, tmp_path, postgres_url)
    real_claim = jobs.log.claim
    submitted: list[int] = []

    def claim_then_a_page_submits(backend: str, holder: str, **options: object) -> list[tuple[int, str]]:
        claimed = real_claim(backend, holder, **options)  # the claim has read its jobs...
        submitted.append(jobs.submit("grok-imagine", "a fox", {}, idempotency_key="during").id)  # ...then one is held
        return claimed

    jobs.log.claim = claim_then_a_page_submits  # type: ignore[method-assign]
    jobs.follow_once()
    del jobs.log.claim
    assert submitted
    # The next passes, before the next claim (LEASE_RENEW, 5 s), follow the new job.
    assert submitted[0] in {job.id for job in jobs.held.pending()}
