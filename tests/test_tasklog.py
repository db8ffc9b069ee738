"""The task log on a real SQLite file: schema, migrations, concurrency, pandas."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rivya.status import JobStatus
from rivya.tasklog import MIGRATIONS, TaskLog


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
