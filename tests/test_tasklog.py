"""The task log on both engines (a real SQLite file, a real PostgreSQL database): schema, migrations, indexes,
totals, concurrency, pandas. Tests about one engine's own machinery say so in their name."""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event

from rivya.database import statement
from rivya.money import returned_credits
from rivya.people import Person
from rivya.presets import get_preset, save_preset
from rivya.stars import set_star, starred
from rivya.status import TERMINAL, JobStatus
from rivya.tasklog import MIGRATIONS, PENDING_WHERE, POSTGRES_MIGRATIONS, POSTGRES_ROLLUP, RETURNED_SQL, ROLLUP, TaskLog


def add(log: TaskLog, key: str, **extra) -> object:
    fields = dict(idempotency_key=key, backend="sandbox", model="grok-imagine", category="image", prompt=f"p {key}", params={})
    return log.add(**{**fields, **extra})


@pytest.fixture
def log(log_location: Path | str) -> Iterator[TaskLog]:
    """A fresh log on each engine, closed afterwards (a PostgreSQL test must not keep its connections)."""
    opened = TaskLog(log_location)
    yield opened
    opened.close()


# -- seeing what a log sends, and how the engine plans it ----------------------------------------------------------


def statements(log: TaskLog, call: Callable[[], Any]) -> list[tuple[str, Any]]:
    """``(sql, parameters)`` of every statement ``call()`` sends to the log's database, as the driver gets them."""
    seen: list[tuple[str, Any]] = []

    def record(_connection, _cursor, sql: str, parameters: Any, _context, _many: bool) -> None:
        seen.append((sql, parameters))

    event.listen(log.db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(log.db.engine, "before_cursor_execute", record)
    return seen


def selects(log: TaskLog, call: Callable[[], Any]) -> list[tuple[str, Any]]:
    return [s for s in statements(log, call) if s[0].lstrip().upper().startswith("SELECT")]


def explain(log: TaskLog, sql: str, parameters: Any = (), *, driver_form: bool = True) -> str:
    """The engine's plan of one query: SQLite's steps joined by spaces, or PostgreSQL's EXPLAIN lines.

    ``sql`` is as the driver got it (from ``statements``), or ``?``-style with ``driver_form=False``.
    """
    with log.db.engine.connect() as connection:
        if not driver_form:
            sql, parameters = statement(sql, parameters, connection.dialect.paramstyle)
        if log.dialect.is_sqlite:
            return " ".join(r[3] for r in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters))
        return "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + sql, parameters))


def bulk_finished_jobs(log: TaskLog, count: int) -> None:
    """``count`` finished jobs in one statement, then fresh statistics: a log large enough for PostgreSQL's planner
    to choose an index because it is cheaper, not because it was told to."""
    log.db.execute(
        f"""INSERT INTO jobs (idempotency_key, backend, submitted_at, updated_at, model, category, prompt, params, status)
            SELECT 'bulk-' || n, 'bulk', '2025-01-01T00:00:00.000+00:00', '2025-01-01T00:00:00.000+00:00',
                   'grok-imagine', 'image', 'bulk prompt number ' || n, '{{}}', 'succeeded'
            FROM generate_series(1, {int(count)}) AS n"""
    )
    log.db.execute("ANALYZE")


# -- schema and migrations -------------------------------------------------------------------------------------------


def test_schema_version_and_a_reopened_log_keeps_its_rows(log: TaskLog, log_location: Path | str) -> None:
    assert log.schema_version == len(MIGRATIONS)
    add(log, "a")
    again = TaskLog(log_location)  # reopening an up-to-date log applies nothing and keeps the rows
    assert again.count() == 1 and again.schema_version == len(MIGRATIONS)
    again.close()


def test_sqlite_log_is_in_wal_mode(tmp_path: Path) -> None:
    TaskLog(tmp_path / "log.sqlite3").close()
    assert sqlite3.connect(tmp_path / "log.sqlite3").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_postgresql_schema_version_is_one_row_and_migrations_run_once(postgres_url: str) -> None:
    log = TaskLog(postgres_url)
    assert [tuple(r) for r in log.read("SELECT version FROM schema_version")] == [(len(MIGRATIONS),)]
    add(log, "a")
    TaskLog(postgres_url).close()  # a second replica opening the same database finds nothing to do
    assert [tuple(r) for r in log.read("SELECT version FROM schema_version")] == [(len(MIGRATIONS),)]
    assert log.count() == 1
    log.close()


def test_sqlite_migration_runs_on_an_older_file(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).execute("PRAGMA user_version = 0").close()
    assert TaskLog(path).schema_version == len(MIGRATIONS)


# -- rows ------------------------------------------------------------------------------------------------------------


def test_a_key_is_one_row_and_updates_finish(log: TaskLog) -> None:
    first = add(log, "k", params={"aspect_ratio": "16:9"})
    again = add(log, "k", prompt="something else")
    assert first.id == again.id and again.prompt == "p k" and again.status == JobStatus.SUBMITTING
    done = log.update(first.id, status="succeeded", final_credits=4, media_paths=["/m/1.png"])
    assert done.finished_at and done.media_paths == ["/m/1.png"] and done.is_done
    assert log.pending() == [] and log.by_key("k").final_credits == 4
    failed = log.update(add(log, "f").id, status="failed", reserved_credits=4, final_credits=0)
    assert failed.credits_returned == 4
    assert type(failed.id) is int and type(failed.final_credits) is int  # plain ints on both engines, never Decimal


def test_frame_has_typed_columns(log: TaskLog) -> None:
    add(log, "a")
    add(log, "b", model="grok-imagine-video", category="video")
    frame = log.frame()
    assert list(frame["idempotency_key"]) == ["b", "a"]
    assert str(frame["submitted_at"].dtype).startswith("datetime64")


def test_eight_threads_append_without_losing_a_row(log: TaskLog) -> None:
    def writer(n: int) -> None:
        for i in range(50):
            job = add(log, f"{n}-{i}")
            log.update(job.id, status="queued", task_id=f"task_{n}_{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))  # list() re-raises any writer's error here
    assert log.count() == 400 and len(log.pending()) == 400


def test_pending_is_every_unfinished_job_oldest_first(log: TaskLog) -> None:
    for n, status in enumerate([*JobStatus, "paused", *JobStatus]):
        job = add(log, f"{n}", backend="a" if n % 2 else "b")
        if status != JobStatus.SUBMITTING:
            log.update(job.id, status=status)
    waiting = [j for j in log.many(range(1, 100)) if j.status not in TERMINAL]
    assert [j.id for j in log.pending()] == sorted(j.id for j in waiting)
    assert [j.id for j in log.pending("a")] == sorted(j.id for j in waiting if j.backend == "a")
    assert {j.status for j in log.pending()} == {"submitting", "queued", "processing", "paused"}
    assert log.pending_stamps("a") == [(j.id, j.updated_at) for j in log.pending("a")]
    # The query's WHERE is the index's, which names every finished status.
    assert set(re.findall(r"'(\w+)'", PENDING_WHERE)) == {s.value for s in TERMINAL}


def test_sqlite_pending_reads_the_partial_index(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    add(log, "a")
    for backend in (None, "a"):
        ((sql, args),) = selects(log, lambda b=backend: log.pending(b))
        assert "USING INDEX jobs_pending" in explain(log, sql, args)  # the partial index only, never the whole table
    index = log.read("SELECT sql FROM sqlite_master WHERE name = 'jobs_pending'")[0][0]
    assert index.endswith(f"WHERE {PENDING_WHERE}")


def test_postgresql_pending_reads_the_partial_index(postgres_url: str) -> None:
    log = TaskLog(postgres_url)
    add(log, "waiting", backend="bulk")
    bulk_finished_jobs(log, 5000)
    for call in (log.pending, lambda: log.pending("bulk"), lambda: log.pending_stamps("bulk")):
        ((sql, args),) = selects(log, call)
        plan = explain(log, sql, args)
        assert "jobs_pending" in plan and "Seq Scan" not in plan, plan
    index = log.read("SELECT pg_get_indexdef('jobs_pending'::regclass)")[0][0]
    assert set(re.findall(r"'(\w+)'", index)) == {s.value for s in TERMINAL}  # the same statuses as PENDING_WHERE
    log.close()


def test_in_batches_is_every_take_of_the_batches_asked_for_newest_first(log: TaskLog) -> None:
    takes = [add(log, f"a{n}", batch_id="batch-a") for n in range(3)]
    other = add(log, "b0", batch_id="batch-b")
    add(log, "alone")
    assert [j.id for j in log.in_batches(["batch-a"])] == [t.id for t in reversed(takes)]
    assert [j.id for j in log.in_batches(["batch-b", "batch-a"])] == sorted([other.id, *(t.id for t in takes)], reverse=True)
    assert log.in_batches(["batch-none"]) == []
    assert log.in_batches([]) == [] and selects(log, lambda: log.in_batches([])) == []  # nothing asked: no query


def test_sqlite_in_batches_reads_the_batch_index(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    add(log, "a", batch_id="batch-a")
    ((sql, args),) = selects(log, lambda: log.in_batches(["batch-a", "batch-b"]))
    assert "USING INDEX jobs_batch" in explain(log, sql, args)  # the takes' partial index, never the whole table
    log.close()


def test_signature_reads_a_counter_and_moves_on_every_change(log: TaskLog, log_location: Path | str) -> None:
    seen = [log.signature()]
    job = add(log, "a")
    seen.append(log.signature())
    log.update(job.id, polls=1)
    seen.append(log.signature())
    other = TaskLog(log_location)  # another process (or replica) on the same log
    other.db.execute("UPDATE jobs SET polls = 2")
    seen.append(log.signature())
    other.db.execute("DELETE FROM jobs")
    other.close()
    seen.append(log.signature())
    assert len(set(seen)) == len(seen) and seen[0] == (0, 0, 0) and seen[-1][0] == 0
    assert all(type(v) is int for v in seen[-1])


def test_sqlite_signature_reads_no_table(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    ((sql, args),) = selects(log, log.signature)
    plan = explain(log, sql, args)
    assert "SCAN jobs" not in plan, plan  # MAX(id) is one step down the table's b-tree; the rest is one row


def test_postgresql_signature_reads_no_table(postgres_url: str) -> None:
    log = TaskLog(postgres_url)
    bulk_finished_jobs(log, 5000)
    ((sql, args),) = selects(log, log.signature)
    plan = explain(log, sql, args)
    assert "Seq Scan on jobs" not in plan and "jobs_pkey" in plan, plan  # MAX(id): the primary key's last entry
    log.close()


def v3_log(path: Path, prompts: list[str]) -> None:
    """A log as the previous release left it: schema v3, with rows."""
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        for step in filter(str.strip, script.split(";")):
            db.execute(step)
        db.execute(f"PRAGMA user_version = {number}")
    db.executemany(
        """INSERT INTO jobs (idempotency_key, backend, submitted_at, updated_at, model, category, prompt, params, status,
               reserved_credits, final_credits) VALUES (?, 'b', ?, ?, 'grok-imagine', 'image', ?, '{}', ?, 4, ?)""",
        [(f"k{n}", f"2025-03-0{n + 1}T10:00:00.000+00:00", "2025-03-09T10:00:00.000+00:00", p,
          "succeeded" if n % 2 else "queued", 4 if n % 2 else None) for n, p in enumerate(prompts)],
    )
    db.commit()
    db.close()


def test_sqlite_migration_v4_back_fills_search_totals_and_counter(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    v3_log(path, ["a red fox", "a lighthouse at dawn", "fox; and; semicolons", "snow"])
    log = TaskLog(path)
    assert log.schema_version == len(MIGRATIONS) >= 6
    assert log.signature()[:2] == (4, 4)
    assert [r[0] for r in log.read("SELECT rowid FROM jobs_fts WHERE jobs_fts MATCH 'fox' ORDER BY rowid")] == [1, 3]
    totals = [tuple(r) for r in log.read("SELECT day, status, jobs, charged FROM job_days ORDER BY day")]
    assert totals == [("2025-03-01", "queued", 1, 4), ("2025-03-02", "succeeded", 1, 4), ("2025-03-03", "queued", 1, 4),
                      ("2025-03-04", "succeeded", 1, 4)]


def v5_log(where: Path | str) -> None:
    """A log as release v5 left it, on either engine, with one row a page may have sent before the app stopped."""
    row = ("INSERT INTO jobs (idempotency_key, backend, submitted_at, updated_at, model, category, prompt, params, status, "
           "expected_credits) VALUES ('old', 'b', '2025-03-01T10:00:00.000+00:00', '2025-03-01T10:00:00.000+00:00', "
           "'grok-imagine', 'image', 'p', '{}', 'submitting', 4)")
    if isinstance(where, Path):
        db = sqlite3.connect(where)
        for script in MIGRATIONS[:5]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 5")
        db.execute(row)
        db.commit()
        db.close()
        return
    ((version, script),) = [m for m in POSTGRES_MIGRATIONS if m[0] == 5]
    engine = create_engine(where)
    with engine.begin() as connection, connection.connection.driver_connection.cursor() as cursor:
        for sql in (script, f"UPDATE schema_version SET version = {version}", row):
            cursor.execute(sql)  # no parameters: psycopg sends each whole, as the log's own migrations are sent
    engine.dispose()


def test_migration_v6_counts_a_row_from_before_as_sent_once(log_location: Path | str) -> None:
    """A row from before the send count may have been sent: its next send is never taken for a first one (a refusal
    of it cannot prove nothing was made). Rows written since start at 0, and each send is counted before it goes."""
    v5_log(log_location)
    log = TaskLog(log_location)
    assert log.schema_version == len(MIGRATIONS) >= 6
    old = log.by_key("old")
    assert old.sends == 1 and log.count_send(old.id).sends == 2
    new = add(log, "new")
    assert new.sends == 0 and log.count_send(new.id).sends == 1 and log.count_send(new.id).sends == 2
    log.update(new.id, status=JobStatus.QUEUED, task_id="t")
    assert log.count_send(new.id) is None and log.get(new.id).sends == 2  # a settled row is never counted (or sent)
    log.close()


def test_migration_v7_keeps_rows_from_before_out_of_any_grid(log_location: Path | str) -> None:
    """Explore's grids (v7): a row from before belongs to no grid, and a new row may name one."""
    v5_log(log_location)
    log = TaskLog(log_location)
    assert log.schema_version == len(MIGRATIONS) >= 7
    assert log.by_key("old").grid_id is None and log.read("SELECT COUNT(*) FROM grids")[0][0] == 0
    assert add(log, "cell", grid_id="g-1").grid_id == "g-1"
    assert [job.idempotency_key for job in log.where("grid_id IS NOT NULL")] == ["cell"]
    log.close()


DOUBLED = ("SELECT day, model, status, 1, charged,", "SELECT day, model, status, 1, 2 * charged,")  # an "older" money rule


def test_sqlite_totals_are_rebuilt_when_their_definition_changes(tmp_path: Path) -> None:
    """The rollup embeds the money rule; a file made under another rule is refilled on open."""
    path = tmp_path / "log.sqlite3"
    log = TaskLog(path)
    add(log, "a", expected_credits=4)
    with sqlite3.connect(path) as db:  # as if written under an older rule: charges doubled
        db.execute("DROP TRIGGER job_days_insert")
        db.execute(ROLLUP["job_days_insert"].replace(*DOUBLED))
        db.execute("INSERT INTO jobs (idempotency_key, backend, submitted_at, updated_at, model, category, prompt, params, "
                   "status, expected_credits) VALUES ('b', 'b', '2025-01-01', '2025-01-01', 'm', 'image', 'p', '{}', "
                   "'submitting', 4)")
    assert log.read("SELECT SUM(charged) FROM job_days")[0][0] == 12  # the older rule was at work
    assert TaskLog(path).read("SELECT SUM(charged) FROM job_days")[0][0] == 8
    stored = dict(tuple(r) for r in log.read("SELECT name, sql FROM sqlite_master WHERE name LIKE 'job_days%'"))
    assert stored == ROLLUP


def test_postgresql_totals_are_rebuilt_when_their_stored_definition_changes(postgres_url: str) -> None:
    """PostgreSQL keeps the rollup's text in ``rollup_definition``; a database filled under another rule is refilled."""
    log = TaskLog(postgres_url)
    add(log, "a", expected_credits=4)
    older = POSTGRES_ROLLUP["job_days_count"].replace(*DOUBLED)
    assert older != POSTGRES_ROLLUP["job_days_count"]
    with log.db.transaction() as db:  # as if a release with charges doubled had made this database
        db.execute(older.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
        db.execute("UPDATE rollup_definition SET sql = ? WHERE name = 'job_days_count'", (older,))
    log.db.execute("INSERT INTO jobs (idempotency_key, backend, submitted_at, updated_at, model, category, prompt, params, "
                   "status, expected_credits) VALUES ('b', 'b', '2025-01-01', '2025-01-01', 'm', 'image', 'p', '{}', "
                   "'submitting', 4)")
    assert log.read("SELECT SUM(charged) FROM job_days")[0][0] == 12  # the older rule was at work
    reopened = TaskLog(postgres_url)
    assert reopened.read("SELECT SUM(charged) FROM job_days")[0][0] == 8
    assert dict(tuple(r) for r in log.read("SELECT name, sql FROM rollup_definition")) == POSTGRES_ROLLUP
    add(reopened, "c", expected_credits=4)  # the current rule's function is the one at work again
    assert log.read("SELECT SUM(charged) FROM job_days")[0][0] == 12
    reopened.close()
    log.close()


def test_returned_sql_agrees_with_the_money_rule(log: TaskLog) -> None:
    values = (None, -1, 0, 4, 10)
    cases = list(itertools.product([*JobStatus, "paused"], values, values))
    # One query for every case (typed columns: PostgreSQL does not guess a NULL parameter's type).
    rows = " UNION ALL ".join(
        "SELECT ? AS n, CAST(? AS TEXT) AS status, CAST(? AS INTEGER) AS reserved_credits, CAST(? AS INTEGER) AS final_credits"
        for _ in cases
    )
    args = [v for n, (status, reserved, final) in enumerate(cases) for v in (n, str(status), reserved, final)]
    got = {n: value for n, value in log.read(f"SELECT n, {RETURNED_SQL} FROM ({rows}) AS c", args)}
    for n, (status, reserved, final) in enumerate(cases):
        assert got[n] == returned_credits(str(status), reserved, final), (status, reserved, final)


def test_a_person_takes_over_rows_kept_under_their_former_ids_once(log: TaskLog) -> None:
    """Before ids were keyed by issuer and subject, a person's rows were kept under their email (or bare subject).
    Signed in with that email verified, they take over their jobs, stars and presets in one go; an account whose
    subject only looks like that email takes nothing; a second run writes nothing."""
    issuer = "https://id.example"
    ada = Person.from_claims({"iss": issuer, "sub": "ada-1", "email": "Ada@Example.com", "email_verified": True})
    mallory = Person.from_claims({"iss": issuer, "sub": "ada@example.com"})  # no email claim at all
    unverified = Person.from_claims({"iss": issuer, "sub": "x-9", "email": "ada@example.com", "email_verified": False})
    kit = Person.from_claims({"iss": issuer, "sub": "kit-7"})  # without an email, the old id was the bare subject
    assert mallory.legacy_ids == () and unverified.legacy_ids == ("x-9",) and kit.legacy_ids == ("kit-7",)
    hers, kits, bos = (add(log, key, person=old) for key, old in (("a", "ada@example.com"), ("k", "kit-7"),
                                                                   ("b", "bo@example.com")))
    set_star(log, hers.id, "ada@example.com", True)
    set_star(log, bos.id, "ada@example.com", True)
    set_star(log, bos.id, ada.id, True)  # the same star, already under her new id
    set_star(log, kits.id, "kit-7", True)
    preset = save_preset(log, "Ada's fox", "grok-imagine", "a fox", {}, Person("ada@example.com", "Ada"))
    for stranger in (mallory, unverified):
        assert log.claim_legacy_person(stranger.id, stranger.legacy_ids) == 0
    assert log.claim_legacy_person(ada.id, ada.legacy_ids) == 4  # one job, two stars, one preset
    assert log.get(hers.id).person == ada.id and log.get(bos.id).person == "bo@example.com"
    assert starred(log, [hers.id, bos.id, kits.id], ada.id) == {hers.id, bos.id}
    assert starred(log, [hers.id, bos.id], "ada@example.com") == set() and starred(log, [hers.id], mallory.id) == set()
    assert get_preset(log, preset.id).created_by == ada.id
    writes = [s for s in statements(log, lambda: log.claim_legacy_person(ada.id, ada.legacy_ids))
              if not s[0].lstrip().upper().startswith(("SELECT", "BEGIN", "COMMIT", "ROLLBACK"))]
    assert writes == []  # taken over once: the next session of hers only reads
    assert log.claim_legacy_person(kit.id, kit.legacy_ids) == 2
    assert log.get(kits.id).person == kit.id and starred(log, [kits.id], kit.id) == {kits.id}
