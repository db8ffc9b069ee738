"""The Gallery's questions to the log: pages of results newest first, and the filters' choices.

A result is a succeeded job with a saved file. Pages are read by keyset (``id < cursor``) through the
partial index ``jobs_results``, so the first screen and the hundredth cost the same at any log size,
and results arriving meanwhile never shift the pages already shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from .constants import GALLERY_PAGE_SIZE
from .ledger import day_range
from .media import saved_media
from .status import JobStatus, sql_status
from .tasklog import Job, TaskLog

_SUCCEEDED = sql_status(JobStatus.SUCCEEDED)
# Holds index ``jobs_results``'s WHERE (schema v5: status = 'succeeded'), so SQLite can read that index.
RESULTS_WHERE = f"status = {_SUCCEEDED} AND media_paths != '[]'"


@dataclass(frozen=True)
class GalleryFilter:
    """Which results to show: every given condition holds (empty means any)."""

    models: tuple[str, ...] = ()
    favourites_of: str | None = None  # a ``stars.person`` value: only results this viewer starred
    text: str = ""  # words in the prompt (FTS5), or a tag equal to the whole text
    tag: str = ""  # one tag, exactly (any case)
    people: tuple[str, ...] = ()  # ``jobs.person`` values
    start: date | None = None  # days of the log's zone (``TaskLog.timezone``), inclusive
    end: date | None = None
    grids_only: bool = False  # only results that are cells of an Explore grid


@dataclass(frozen=True)
class GalleryPage:
    """Results newest first, and the cursor for the next page (``None``: this was the last)."""

    jobs: list[Job]
    next_before: int | None


def _where(log: TaskLog, f: GalleryFilter) -> tuple[str, list[Any]]:
    """The filter as a condition over ``jobs``. A unary ``+`` keeps SQLite off the model, person and date indexes:
    read through them, every match would be sorted before the first page; walked newest first, one page stops early.
    """
    dialect = log.dialect
    conditions, args = [RESULTS_WHERE], []
    if f.models:
        conditions.append(f"{dialect.unindexed('model')} IN ({','.join('?' * len(f.models))})")
        args += f.models
    if f.favourites_of is not None:
        conditions.append("id IN (SELECT job_id FROM stars WHERE person = ?)")
        args.append(f.favourites_of)
    text = " ".join(f.text.split())
    if text:
        query = dialect.words_query(text)
        words = f"{dialect.words_match()} OR " if query else ""
        conditions.append(f"({words}id IN (SELECT job_id FROM tags WHERE tag = ?))")
        args += [query, text] if query else [text]
    if f.tag:
        conditions.append("id IN (SELECT job_id FROM tags WHERE tag = ?)")
        args.append(f.tag)
    if f.grids_only:
        conditions.append(f"{dialect.unindexed('grid_id')} IS NOT NULL")
    if f.people:
        conditions.append(f"{dialect.unindexed('person')} IN ({','.join('?' * len(f.people))})")
        args += f.people
    # read through the id index, not this one
    days, bounds = day_range(dialect.unindexed("submitted_at"), f.start, f.end, log.timezone)
    return " AND ".join(conditions + days), args + bounds


def results_page(log: TaskLog, f: GalleryFilter, *, before: int | None = None, limit: int = GALLERY_PAGE_SIZE) -> GalleryPage:
    """One page of results matching ``f`` with ids below ``before`` (``None``: from the newest)."""
    where, args = _where(log, f)
    if before is not None:
        where, args = f"{where} AND id < ?", [*args, before]
    found = log.where(where, args, limit=limit + 1)
    jobs = found[:limit]
    return GalleryPage(jobs, jobs[-1].id if len(found) > limit else None)


def results_pages(log: TaskLog, f: GalleryFilter, pages: int, *, limit: int = GALLERY_PAGE_SIZE) -> GalleryPage:
    """The first ``pages`` pages as one: what the Gallery shows after "Load more" was pressed ``pages - 1`` times."""
    read = page_by_page(log, f, pages, limit=limit)
    return GalleryPage([job for page in read for job in page.jobs], read[-1].next_before)


def page_by_page(log: TaskLog, f: GalleryFilter, pages: int, *, limit: int = GALLERY_PAGE_SIZE) -> list[GalleryPage]:
    """The first ``pages`` pages, each with its own cursor (fewer when the results end first): the Gallery draws each
    page in a part of its own, so "Load more" sends only the new one."""
    read: list[GalleryPage] = []
    cursor: int | None = None
    for _ in range(max(1, pages)):
        read.append(results_page(log, f, before=cursor, limit=limit))
        cursor = read[-1].next_before
        if cursor is None:
            break
    return read


def neighbours(log: TaskLog, f: GalleryFilter, job_id: int) -> tuple[int | None, int | None]:
    """The results matching ``f`` just newer and just older than ``job_id``: the large view's previous / next across
    the whole filtered set, loaded or not. Past either end it wraps round (the newest's previous is the oldest), so
    a step never disables the button that has the focus (the browser would drop the focus out of the dialog, and
    Escape would no longer close it); ``None`` only when nothing else matches. ``job_id`` itself need not match
    ``f`` (opened from a link, or unstarred meanwhile): its neighbours are still the nearest matches by id."""
    where, args = _where(log, f)

    def first(condition: str, order: str, bound: list[Any]) -> int | None:
        rows = log.read(f"SELECT id FROM jobs WHERE {where}{condition} AND id <> ? ORDER BY id {order} LIMIT 1",
                        [*args, *bound, job_id])
        return int(rows[0][0]) if rows else None

    newer = first(" AND id > ?", "ASC", [job_id]) or first("", "ASC", [])  # else the oldest
    older = first(" AND id < ?", "DESC", [job_id]) or first("", "DESC", [])  # else the newest
    return newer, older


def shown_ids(log: TaskLog, f: GalleryFilter, pages: int) -> tuple[int, ...]:
    """The ids the Gallery shows for ``f`` after ``pages`` pages: its live watcher compares them to see whether the
    grid changed (one keyset read per page, only after the log's change counter moved)."""
    return tuple(j.id for j in results_pages(log, f, pages).jobs)


def count_results(log: TaskLog, f: GalleryFilter, *, at_most: int | None = None) -> int:
    """How many results match ``f`` (one indexed count), counting no further than ``at_most``: a page that says
    "1,000+" then costs the same in a log of a thousand results as in one of a million."""
    where, args = _where(log, f)
    if at_most is None:
        return int(log.read(f"SELECT COUNT(*) FROM jobs WHERE {where}", args)[0][0])
    sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE {where} LIMIT ?) AS counted"
    return int(log.read(sql, [*args, at_most])[0][0])


def result_models(log: TaskLog) -> list[str]:
    """The models that have results, read from the small per-day rollup."""
    return [r[0] for r in log.read(f"SELECT DISTINCT model FROM job_days WHERE status = {_SUCCEEDED} ORDER BY model")]


def result_days(log: TaskLog) -> tuple[date | None, date | None]:
    """The first and last day (the log's zone) with a result (rollup), for the date filter's bounds."""
    first, last = log.read(f"SELECT MIN(day), MAX(day) FROM job_days WHERE status = {_SUCCEEDED}")[0]
    return (date.fromisoformat(first) if first else None, date.fromisoformat(last) if last else None)


def makers(log: TaskLog) -> dict[str, str]:
    """Who has made jobs: ``{person id: display name}`` in the order of the names shown, any case (empty before anyone
    signed in; index ``jobs_person``). Sorted here: engines differ on where a missing name (NULL) and on how case sorts."""
    rows = log.read("SELECT person, MAX(person_name) FROM jobs WHERE person IS NOT NULL GROUP BY person")
    shown = sorted(((r[1] or r[0], r[0]) for r in rows), key=lambda named: (named[0].casefold(), named[1]))
    return {person: name for name, person in shown}


def result_file(job: Job, media_dir: Path) -> Path | None:
    """The saved result of ``job`` (only a file inside ``media_dir``), or None."""
    return saved_media(job.media_paths[0] if job.media_paths else None, media_dir)
