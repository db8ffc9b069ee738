"""What several replicas on one log must never do: count a row twice, overwrite a saved result, follow a job whose
key they do not hold, ignore "Check now" pressed elsewhere, or call a logged press "not sent".

Real PostgreSQL (and SQLite where the promise holds there too), the real sandbox over HTTP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text

from rivya import RivyaClient, constants
from rivya.config import load_settings
from rivya.errors import StorageError
from rivya.jobs import Clock, JobService
from rivya.polling import RequestBudget
from rivya.sandbox import Sandbox
from rivya.status import JobStatus
from rivya.tasklog import TaskLog

from .conftest import FAST_POLLS, ManualClock, creates

BACKEND = "sandbox"


def service(sandbox: Sandbox, tmp_path: Path, where: Path | str, clock: Clock = time) -> JobService:
    client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS)
    return JobService(client, TaskLog(where), tmp_path / "media", backend=BACKEND, budget=RequestBudget(rate=200, burst=100),
                      clock=clock)


def status_gets(sandbox: Sandbox, task_id: str | None) -> int:
    return sum(1 for e in sandbox.journal if e.method == "GET" and e.path.endswith(f"/generations/{task_id}"))


def test_a_replayed_key_is_not_counted_as_a_new_row(log_location: Path | str) -> None:
    """On PostgreSQL a conflicting insert still fires the counter's BEFORE trigger: the key is looked up first."""
    log = TaskLog(log_location)
    for _ in range(3):
        log.add(idempotency_key="one", backend=BACKEND, model="grok-imagine", category="image", prompt="p", params={})
    assert log.count() == 1 and log.signature()[0] == 1
    log.close()


def test_a_failed_download_never_overwrites_a_saved_result(log_location: Path | str) -> None:
    log = TaskLog(log_location)
    job = log.add(idempotency_key="k", backend=BACKEND, model="grok-imagine", category="image", prompt="p", params={})
    log.update(job.id, status=JobStatus.SUCCEEDED, result_urls=["http://x/a.png"])
    log.update(job.id, media_paths=["/media/1-0.png"])  # another replica's follower saved it
    kept = log.update(job.id, media_paths=[], media_error="not saved", unless_saved=True)
    assert kept.media_paths == ["/media/1-0.png"] and kept.media_error is None
    assert log.get(job.id) == kept
    fresh = log.add(idempotency_key="k2", backend=BACKEND, model="grok-imagine", category="image", prompt="p", params={})
    failed = log.update(fresh.id, media_error="not saved", unless_saved=True)  # nothing saved yet: recorded
    assert failed.media_error == "not saved"
    log.close()


def test_a_job_sent_with_a_personal_key_is_claimed_only_where_that_key_is_held(postgres_url: str) -> None:
    log = TaskLog(postgres_url)
    shared = log.add(idempotency_key="s", backend=BACKEND, model="grok-imagine", category="image", prompt="p", params={})
    personal = log.add(idempotency_key="p", backend=BACKEND, model="grok-imagine", category="image", prompt="p", params={},
                       key_owner="personal-abc")
    assert {i for i, _ in log.claim(BACKEND, "b", owners=["shared"])} == {shared.id}
    assert {i for i, _ in log.claim(BACKEND, "c", owners=["shared", "personal-abc"])} == {personal.id}
    log.close()


def test_leases_run_on_the_database_servers_clock(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica whose own clock runs an hour ahead still gives its leases the server's time."""
    log = TaskLog(postgres_url)
    job = log.add(idempotency_key="s", backend=BACKEND, model="grok-imagine", category="image", prompt="p", params={})
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    log.claim(BACKEND, "a")
    monkeypatch.undo()
    until, server_now = log.read("SELECT until, EXTRACT(EPOCH FROM clock_timestamp()) FROM leases WHERE job_id = ?",
                                 (job.id,))[0]
    assert 0 < until - float(server_now) <= 15.0
    log.close()


def test_check_now_on_one_replica_reaches_the_follower_holding_the_job(
    sandbox: Sandbox, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job parked by the replica holding it (a status the app did not know, asked about for an hour) is looked at
    again when someone presses "Check now" on any replica."""
    steady = ManualClock()  # the holder's lease renewals come when the test moves this clock
    holder = service(sandbox, tmp_path, postgres_url, clock=SimpleNamespace(time=time.time, monotonic=steady))
    other = service(sandbox, tmp_path, postgres_url)
    monkeypatch.setattr(constants, "UNKNOWN_STATUS_MAX_POLLS", 1)
    try:
        job = holder.submit("grok-imagine", "a parked job", {}, idempotency_key="parked")
        holder.follow_once()
        holder.timetable.odd_status(job.id, 1)  # parked, as after UNKNOWN_STATUS_MAX_POLLS
        assert holder.timetable.due_at(job.id) == math.inf
        before = status_gets(sandbox, holder.log.get(job.id).task_id)
        steady.advance(constants.LEASE_RENEW)
        holder.follow_once()  # a claim with nothing asked: the job stays parked
        assert status_gets(sandbox, holder.log.get(job.id).task_id) == before
        assert other.recheck() == 1
        steady.advance(constants.LEASE_RENEW)  # the holder's next claim
        holder.follow_once()
        assert status_gets(sandbox, holder.log.get(job.id).task_id) == before + 1
        assert len(other.lateness) == 0  # the replica where it was pressed polled nothing itself
    finally:
        holder.stop()
        other.stop()


def test_a_commit_whose_reply_was_lost_is_not_reported_as_not_sent(sandbox: Sandbox, tmp_path: Path,
                                                                    log_location: Path | str) -> None:
    """The server committed the rows, then the connection broke before it said so: the rows are logged and sent once,
    and the page is not told "nothing was sent" (which would invite a second press and a second charge)."""
    jobs = service(sandbox, tmp_path, log_location)
    real = jobs.log.writing

    @contextmanager
    def commit_then_lose_the_reply() -> Iterator[object]:
        with real() as db:
            yield db
        raise StorageError("the job log could not be written (server closed the connection unexpectedly)")

    jobs.log.writing = commit_then_lose_the_reply  # type: ignore[method-assign]
    try:
        (job,) = jobs.submit_batch("grok-imagine", "a lost reply", {}, keys=["lost-reply"])
        assert job.idempotency_key == "lost-reply" and len(creates(sandbox)) == 1
        assert jobs.log.count() == 1
    finally:
        jobs.stop()


def test_a_log_whose_tables_cannot_be_created_is_a_plain_storage_error(postgres_url: str) -> None:
    """A role without the right to create tables (or the citext extension) gets words, not a driver traceback."""
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text("CREATE ROLE visitor LOGIN"))
        db.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    admin.dispose()
    limited = postgres_url.replace("studio@", "visitor@", 1)
    with pytest.raises(StorageError, match="could not be created"):
        TaskLog(limited)


def test_a_password_with_a_bare_at_sign_is_refused_before_it_can_leak() -> None:
    with pytest.raises(ValueError, match="%40"):
        load_settings({}, {"DATABASE_URL": "postgresql://studio:p@ss@db/studio", "RIVYA_API_KEY": "rvya_sk_x"})
    ok = load_settings({}, {"DATABASE_URL": "postgresql://studio:p%40ss@db/studio", "RIVYA_API_KEY": "rvya_sk_x"})
    assert ok.database_url == "postgresql://studio:p%40ss@db/studio"
