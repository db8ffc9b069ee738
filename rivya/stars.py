"""Favourites: stars on results, per result and per person (the team's when nobody is signed in)."""

from __future__ import annotations

from collections.abc import Iterable

from .tasklog import TaskLog, utc_now


def set_star(log: TaskLog, job_id: int, person: str, starred: bool) -> None:
    """Star or un-star one result for ``person`` (``rivya.people.star_owner``); doing it twice is harmless."""
    with log.writing() as db:
        if starred:
            db.execute("INSERT INTO stars (job_id, person, starred_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                       (job_id, person, utc_now()))
        else:
            db.execute("DELETE FROM stars WHERE job_id = ? AND person = ?", (job_id, person))


def starred(log: TaskLog, job_ids: Iterable[int], person: str) -> set[int]:
    """Which of ``job_ids`` ``person`` has starred (one query for a whole page of results)."""
    ids = list(job_ids)
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    rows = log.read(f"SELECT job_id FROM stars WHERE person = ? AND job_id IN ({marks})", (person, *ids))
    return {r[0] for r in rows}
