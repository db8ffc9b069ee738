"""Tags: short labels people put on results ("hero shot", "client A"), searchable from the Gallery."""

from __future__ import annotations

from collections.abc import Iterable

from .constants import MAX_TAG_CHARS
from .errors import InvalidInputError
from .tasklog import TaskLog


def clean_tag(text: str) -> str:
    """A tag as stored: spaces collapsed and trimmed; ``InvalidInputError`` when empty or too long."""
    tag = " ".join(str(text).split())
    if not tag:
        raise InvalidInputError(["A tag needs at least one letter or digit."])
    if len(tag) > MAX_TAG_CHARS:
        raise InvalidInputError([f"A tag may be at most {MAX_TAG_CHARS} characters; this one is {len(tag)}."])
    return tag


def add_tag(log: TaskLog, job_id: int, text: str) -> str:
    """Label one result; the same tag twice (in any case) is kept once. Returns the tag as stored."""
    tag = clean_tag(text)
    with log.writing() as db:
        db.execute("INSERT INTO tags (job_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING", (job_id, tag))
    return tag


def remove_tag(log: TaskLog, job_id: int, tag: str) -> None:
    """Take a label off one result (any case); removing one it does not have is harmless."""
    with log.writing() as db:
        db.execute("DELETE FROM tags WHERE job_id = ? AND tag = ?", (job_id, tag))


def tags_of(log: TaskLog, job_ids: Iterable[int]) -> dict[int, list[str]]:
    """The tags of each of ``job_ids``, alphabetical (one query for a page of results; absent: none)."""
    ids = list(job_ids)
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    found: dict[int, list[str]] = {}
    for job_id, tag in log.read(f"SELECT job_id, tag FROM tags WHERE job_id IN ({marks}) ORDER BY tag", ids):
        found.setdefault(job_id, []).append(tag)
    return found


def popular_tags(log: TaskLog, *, limit: int = 30) -> list[tuple[str, int]]:
    """The most used tags with their counts, most used first (for the Gallery's tag filter)."""
    rows = log.read("SELECT tag, COUNT(*) AS n FROM tags GROUP BY tag ORDER BY n DESC, tag LIMIT ?", (limit,))
    return [(r[0], r[1]) for r in rows]
