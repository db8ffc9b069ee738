"""The task log's named queries that pages use instead of SQL of their own (both engines)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rivya.tasklog import Brief, TaskLog


@pytest.fixture
def log(log_location: Path | str) -> Iterator[TaskLog]:
    """A fresh log on each engine, closed afterwards."""
    task_log = TaskLog(log_location)
    yield task_log
    task_log.close()


def add(log: TaskLog, key: str, **fields: object) -> int:
    return log.add(idempotency_key=key, backend="sandbox", model="grok-imagine", category="image", prompt=f"prompt {key}",
                   params={}, **fields).id  # type: ignore[arg-type]


def test_children_and_batches_newest_first(log: TaskLog) -> None:
    parent, other = add(log, "parent"), add(log, "other")
    first, second = add(log, "c1", parent_id=parent), add(log, "c2", parent_id=parent)
    elsewhere = add(log, "c3", parent_id=other)
    add(log, "unrelated")
    assert [j.id for j in log.children_of([parent])] == [second, first]
    assert [j.id for j in log.children_of([parent, other])] == [elsewhere, second, first]
    assert log.children_of([]) == []
    takes = [add(log, f"b-{n}", batch_id="b") for n in (1, 2)]
    add(log, "c-1", batch_id="c")
    assert [j.id for j in log.in_batches(["b"])] == takes[::-1] and log.in_batches([]) == []


def test_a_viewers_pending_jobs_and_news(log: TaskLog) -> None:
    mine, done = add(log, "mine", session_id="s1"), add(log, "done", session_id="s1")
    log.update(done, status="succeeded")
    theirs = add(log, "theirs", session_id="s2", person="ada@example.com")
    assert log.pending_ids("session_id", "s1") == {mine} and log.pending_ids("person", "ada@example.com") == {theirs}
    assert log.viewer_news("session_id", "s1", after=mine) == [Brief(done, "image", "succeeded", "prompt done", None)]
    news = log.viewer_news("session_id", "s1", after=theirs, also=[theirs])
    assert news == [Brief(theirs, "image", "submitting", "prompt theirs", None)]  # ``also`` whoever's it is
    for column in ("prompt", "id = 1 OR person"):  # only a viewer column of ours ever reaches the SQL
        with pytest.raises(ValueError):
            log.pending_ids(column, "x")
        with pytest.raises(ValueError):
            log.viewer_news(column, "x", after=0)
