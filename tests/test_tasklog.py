"""The task log on a real SQLite file: schema, migrations, indexes, totals, concurrency, pandas."""

from __future__ import annotations

import itertools
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rivya.money import returned_credits
from rivya.status import TERMINAL, JobStatus
from rivya.tasklog import MIGRATIONS, PENDING_WHERE, RETURNED_SQL, ROLLUP, TaskLog


def add(log: TaskLog, key: str, **extra) -> object:
    fields = dict(idempotency_key=key, backend="sandbox", model="grok-imagine", category="image", prompt=f"p {key}", params={})
    return log.add(**{**fields, **extra})


def test_schema_wal_and_version(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    assert log.schema_version == len(MIGRATIONS)
    mode = sqlite3.connect(tmp_path / "log.sqlite3").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    # Reopening an up-to-date file applies nothing and keeps the rows.
    add(log, "a")
    assert TaskLog(tmp_path / "log.sqlite3").count() == 1


def test_migration_runs_on_an_older_file(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).execute("PRAGMA user_version = 0").close()
    assert TaskLog(path).schema_version == len(MIGRATIONS)


def test_a_key_is_one_row_and_updates_finish(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    first = add(log, "k", params={"aspect_ratio": "16:9"})
    again = add(log, "k", prompt="something else")
    assert first.id == again.id and again.prompt == "p k" and again.status == JobStatus.SUBMITTING
    done = log.update(first.id, status="succeeded", final_credits=4, media_paths=["/m/1.png"])
    assert done.finished_at and done.media_paths == ["/m/1.png"] and done.is_done
    assert log.pending() == [] and log.by_key("k").final_credits == 4
    failed = log.update(add(log, "f").id, status="failed", reserved_credits=4, final_credits=0)
    assert failed.credits_returned == 4


def test_frame_has_typed_columns(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    add(log, "a")
    add(log, "b", model="grok-imagine-video", category="video")
    frame = log.frame()
    assert list(frame["idempotency_key"]) == ["b", "a"]
    assert str(frame["submitted_at"].dtype).startswith("datetime64")


def test_eight_threads_append_without_losing_a_row(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")

    def writer(n: int) -> None:
        for i in range(50):
            job = add(log, f"{n}-{i}")
            log.update(job.id, status="queued", task_id=f"task_{n}_{i}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))  # list() re-raises any writer's error here
    assert log.count() == 400 and len(log.pending()) == 400


def plans(log: TaskLog, call) -> list[str]:
    """The query plans of the SELECTs ``call()`` runs on this thread's connection of ``log``."""
    seen: list[str] = []
    log._db().set_trace_callback(seen.append)
    try:
        call()
    finally:
        log._db().set_trace_callback(None)
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    return [" ".join(r[3] for r in log._db().execute("EXPLAIN QUERY PLAN " + s)) for s in selects]


def test_pending_reads_the_partial_index_oldest_first(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    for n, status in enumerate([*JobStatus, "paused", *JobStatus]):
        job = add(log, f"{n}", backend="a" if n % 2 else "b")
        if status != JobStatus.SUBMITTING:
            log.update(job.id, status=status)
    waiting = [j for j in log.many(range(1, 100)) if j.status not in TERMINAL]
    assert [j.id for j in log.pending()] == sorted(j.id for j in waiting)
    assert [j.id for j in log.pending("a")] == sorted(j.id for j in waiting if j.backend == "a")
    assert {j.status for j in log.pending()} == {"submitting", "queued", "processing", "paused"}
    for backend in (None, "a"):
        (plan,) = plans(log, lambda b=backend: log.pending(b))
        assert "USING INDEX jobs_pending" in plan, plan  # the partial index only, never the whole table
    # The query's WHERE is the index's, which names every finished status.
    assert set(re.findall(r"'(\w+)'", PENDING_WHERE)) == {s.value for s in TERMINAL}
    index = log.read("SELECT sql FROM sqlite_master WHERE name = 'jobs_pending'")[0][0]
    assert index.endswith(f"WHERE {PENDING_WHERE}")


def test_signature_reads_a_counter_and_moves_on_every_change(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    seen = [log.signature()]
    job = add(log, "a")
    seen.append(log.signature())
    log.update(job.id, polls=1)
    seen.append(log.signature())
    with sqlite3.connect(log.path) as other:  # another process
        other.execute("UPDATE jobs SET polls = 2")
    seen.append(log.signature())
    with sqlite3.connect(log.path) as other:
        other.execute("DELETE FROM jobs")
    seen.append(log.signature())
    assert len(set(seen)) == len(seen) and seen[0] == (0, 0, 0) and seen[-1][0] == 0
    (plan,) = plans(log, log.signature)
    assert "SCAN jobs" not in plan, plan  # MAX(id) is one step down the table's b-tree; the rest is one row


def v3_log(path: Path, prompts: list[str]) -> None:
    """A log as the previous release left it: schema v3, with rows."""
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        for statement in filter(str.strip, script.split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    db.executemany(
        """INSERT INTO jobs (idempotency_key, backend, submitted_at, updated_at, model, category, prompt, params, status,
               reserved_credits, final_credits) VALUES (?, 'b', ?, ?, 'grok-imagine', 'image', ?, '{}', ?, 4, ?)""",
        [(f"k{n}", f"2025-03-0{n + 1}T10:00:00.000+00:00", "2025-03-09T10:00:00.000+00:00", p,
          "succeeded" if n % 2 else "queued", 4 if n % 2 else None) for n, p in enumerate(prompts)],
    )
    db.commit()
    db.close()


def test_migration_v4_back_fills_search_totals_and_counter(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    v3_log(path, ["a red fox", "a lighthouse at dawn", "fox; and; semicolons", "snow"])
    log = TaskLog(path)
    assert log.schema_version == len(MIGRATIONS) == 5
    assert log.signature()[:2] == (4, 4)
    assert [r[0] for r in log.read("SELECT rowid FROM jobs_fts WHERE jobs_fts MATCH 'fox' ORDER BY rowid")] == [1, 3]
    totals = [tuple(r) for r in log.read("SELECT day, status, jobs, charged FROM job_days ORDER BY day")]
    assert totals == [("2025-03-01", "queued", 1, 4), ("2025-03-02", "succeeded", 1, 4), ("2025-03-03", "queued", 1, 4),
                      ("2025-03-04", "succeeded", 1, 4)]


def test_totals_are_rebuilt_when_their_definition_changes(tmp_path: Path) -> None:
    """The rollup embeds the money rule; a file made under another rule is refilled on open."""
    path = tmp_path / "log.sqlite3"
    log = TaskLog(path)
    add(log, "a", expected_credits=4)
    with sqlite3.connect(path) as db:  # as if written under an older rule: charges doubled
        db.execute("DROP TRIGGER job_days_insert")
        db.execute(ROLLUP["job_days_insert"].replace("SELECT day, model, status, 1, charged,", "SELECT day, model, status, 1, "
                                                      "2 * charged,"))
        db.execute("INSERT INTO jobs (idempotency_key, backend, submitted_at, updated_at, model, category, prompt, params, "
                   "status, expected_credits) VALUES ('b', 'b', '2025-01-01', '2025-01-01', 'm', 'image', 'p', '{}', "
                   "'submitting', 4)")
    assert TaskLog(path).read("SELECT SUM(charged) FROM job_days")[0][0] == 8
    stored = dict(tuple(r) for r in log.read("SELECT name, sql FROM sqlite_master WHERE name LIKE 'job_days%'"))
    assert stored == ROLLUP


def test_returned_sql_agrees_with_the_money_rule(tmp_path: Path) -> None:
    db = TaskLog(tmp_path / "log.sqlite3")._db()
    values = (None, -1, 0, 4, 10)
    for status, reserved, final in itertools.product([*JobStatus, "paused"], values, values):
        row = db.execute(f"SELECT {RETURNED_SQL} FROM (SELECT ? AS status, ? AS reserved_credits, ? AS final_credits)",
                         (str(status), reserved, final)).fetchone()
        assert row[0] == returned_credits(str(status), reserved, final), (status, reserved, final)
