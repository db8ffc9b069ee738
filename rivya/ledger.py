"""The team's ledger, read from the task log in SQL: figures, charts, filtered pages of jobs and CSV.

Nothing here holds the log in memory, so a million rows cost what a thousand do:

- figures, charts and the counts of model, status and date filters read ``job_days``, the
  per-(day, model, status) totals the log's triggers keep (a few thousand rows at most);
- a page of the table is one indexed query (newest first, ``LIMIT``/``OFFSET``), prompts are
  searched through the word index (FTS5 ``jobs_fts`` on SQLite, a GIN index on PostgreSQL: ``rivya.dialect``);
- times to a result are exact medians and 90th percentiles, read by offset from the index
  ``jobs_result_ms`` (two short index walks per model);
- the CSV is written from rows read a chunk at a time;
- "Mine" reads index ``jobs_person``, "Favourites" walks index ``stars_person`` newest first;
- spend per person counts from the budgets' own day boundary (``rivya.budgets.day_start``).

Days are the studio's one calendar (``rivya.budgets``): midnight to midnight in the zone the log was opened
with (``BUDGET_TIMEZONE``), for figures, charts, date filters and the rollup alike.

Credits charged are ``rivya.money``'s rule (``CHARGED_SQL``), the one the spend guard and the
job cards use; the log's rollup embeds the same expression.
"""

from __future__ import annotations

import csv
import io
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from time import monotonic
from typing import Any

import pandas as pd

from .budgets import current_day, day_start, midnight
from .constants import LEDGER_MEMO_SIZE, OLDER_SPEND_SECONDS
from .money import CHARGED_SQL
from .people import maker_name
from .status import JobStatus
from .tasklog import PENDING_WHERE, RESULT_MS_WHERE, TaskLog

CSV_COLUMNS = [
    "id", "submitted_at", "finished_at", "model", "status", "prompt", "params", "reserved_credits", "final_credits",
    "charged_credits", "seconds_to_result", "task_id", "result_urls", "media_paths", "error_code", "error_message",
]
# Who made each job (``rivya.people.maker_name``): in the CSV when people sign in, and in every page of rows.
MADE_BY = "made_by"
_ROW_SQL = (
    "j.id, j.submitted_at, j.finished_at, j.model, j.status, j.prompt, j.params, j.reserved_credits, j.final_credits, "
    f"{CHARGED_SQL} AS charged_credits, j.task_id, j.result_urls, j.media_paths, j.error_code, j.error_message, "
    "j.person, j.person_name"
)


@dataclass(frozen=True)
class JobFilter:
    """What the History table shows: every given condition holds (empty means any)."""

    models: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: date | None = None  # days of the log's zone (``TaskLog.timezone``), inclusive
    end: date | None = None
    text: str = ""  # words in the prompt; see ``rivya.dialect.fts5_query``
    person: str | None = None  # "Mine": only jobs this person made (``Person.id``)
    starred_by: str | None = None  # "Favourites": only results this viewer starred (``rivya.people.star_owner``)
    grids_only: bool = False  # "Grids": only cells of an Explore grid (index ``jobs_grid``)

    @property
    def by_row(self) -> bool:
        """True when a condition is not in the per-day rollup, so counts read the rows."""
        return bool(self.text.strip()) or self.person is not None or self.starred_by is not None or self.grids_only


@dataclass(frozen=True)
class Figures:
    spent_today: int
    spent_7_days: int
    spent_all_time: int
    returned_on_failures: int
    jobs_by_status: dict[str, int]
    success_rate: float | None
    median_seconds_by_model: dict[str, float]


@dataclass(frozen=True)
class Spend:
    """Credits charged (``rivya.money``'s rule) today, in the last 7 days and ever; days as the budgets count them."""

    today: int
    last_7_days: int
    all_time: int


@dataclass(frozen=True)
class PersonSpend:
    """One person's jobs and spend; ``person`` None is every job made while nobody was signed in."""

    person: str | None
    name: str
    jobs: int
    spend: Spend


@dataclass(frozen=True)
class Choices:
    """What the filters offer: the models and statuses in the log and its first and last day (the log's zone)."""

    models: list[str]
    statuses: list[str]
    first_day: date | None
    last_day: date | None


def _like_pattern(text: str) -> str:
    """A literal ``LIKE`` substring pattern (escape character ``\\``)."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def _marks(values: tuple[str, ...]) -> str:
    return ",".join("?" * len(values))


def _choices_where(jobs: JobFilter, prefix: str) -> tuple[list[str], list[Any]]:
    """The filter's model and status conditions, on columns named with ``prefix``."""
    conditions: list[str] = []
    args: list[Any] = []
    for column, values in (("model", jobs.models), ("status", jobs.statuses)):
        if values:
            conditions.append(f"{prefix}{column} IN ({_marks(values)})")
            args += values
    return conditions, args


def _rollup_where(jobs: JobFilter) -> tuple[str, list[Any]]:
    """The filter's model, status and day conditions over ``job_days`` (its text is not there)."""
    conditions, args = _choices_where(jobs, "")
    conditions.insert(0, "true")
    if jobs.start:
        conditions.append("day >= ?")
        args.append(jobs.start.isoformat())
    if jobs.end:
        conditions.append("day <= ?")
        args.append(jobs.end.isoformat())
    return " AND ".join(conditions), args


def day_range(column: str, start: date | None, end: date | None, timezone: str) -> tuple[list[str], list[Any]]:
    """Conditions keeping submit times from ``start`` through ``end``: whole days of ``timezone``, either may be open.

    Each bound is a midnight of that zone as a UTC stamp, compared as text: the log writes submit times as UTC
    ISO stamps, which sort as they read (the budgets' ``day_start`` counts the same way).
    """
    conditions: list[str] = []
    args: list[Any] = []
    if start:
        conditions.append(f"{column} >= ?")
        args.append(midnight(start, timezone))
    if end:
        conditions.append(f"{column} < ?")
        args.append(midnight(end + timedelta(days=1), timezone))
    return conditions, args


def _row_where(jobs: JobFilter, timezone: str, *, stars: bool = True) -> tuple[list[str], list[Any]]:
    """The filter's conditions over ``jobs j`` (without its text); ``stars=False`` leaves out "Favourites".

    A favourite is one lookup of the ``stars`` primary key (job, person) per row.
    """
    conditions, args = _choices_where(jobs, "j.")
    days, bounds = day_range("j.submitted_at", jobs.start, jobs.end, timezone)
    conditions, args = conditions + days, args + bounds
    if jobs.person is not None:
        conditions.append("j.person = ?")
        args.append(jobs.person)
    if jobs.grids_only:
        conditions.append("j.grid_id IS NOT NULL")
    if stars and jobs.starred_by is not None:
        conditions.append("EXISTS (SELECT 1 FROM stars AS s WHERE s.job_id = j.id AND s.person = ?)")
        args.append(jobs.starred_by)
    return conditions, args


def _seconds(status: str, submitted: str, finished: str | None) -> float | None:
    """Seconds from submit to result, for succeeded jobs only."""
    if status != JobStatus.SUCCEEDED or not finished:
        return None
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(submitted)).total_seconds()


def _csv_time(stamp: str | None) -> str | None:
    """2025-01-31T12:00:00.123Z: UTC, milliseconds."""
    if not stamp:
        return None
    if len(stamp) == 29 and stamp.endswith("+00:00"):  # how the log writes them: already UTC, milliseconds
        return stamp[:23] + "Z"
    moment = datetime.fromisoformat(stamp)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _csv_row(row: Any, *, made_by: bool) -> tuple[Any, ...]:
    """One ``_ROW_SQL`` row as CSV_COLUMNS values, then MADE_BY's when ``made_by``."""
    seconds = _seconds(row[4], row[1], row[2])
    values = (row[0], _csv_time(row[1]), _csv_time(row[2]), *row[3:10], seconds, *row[10:15])
    return (*values, maker_name(row[15], row[16])) if made_by else values


class LedgerView:
    """History's reads of one task log; shared by every session of the server.

    Results that do not depend on the page shown (figures, charts, counts) are kept until the
    log's change counter moves, so a rerun that finds nothing new costs one tiny query.
    """

    def __init__(self, log: TaskLog) -> None:
        self.log = log
        self._memo: OrderedDict[tuple, Any] = OrderedDict()
        self._memo_signature: tuple | None = None
        self._lock = threading.Lock()
        self._older: dict[tuple, tuple[float, Any]] = {}

    def _cached(self, key: tuple, compute: Callable[[], Any]) -> Any:
        signature = self.log.signature()
        with self._lock:
            if signature != self._memo_signature:
                self._memo.clear()
                self._memo_signature = signature
            elif key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = compute()
        with self._lock:
            if signature == self._memo_signature:
                self._memo[key] = value
                while len(self._memo) > LEDGER_MEMO_SIZE:
                    self._memo.popitem(last=False)
        return value

    # -- figures and charts: from the rollup ----------------------------------------------

    def total(self) -> int:
        """Jobs in the log."""
        return self.log.signature()[0]

    def figures(self, *, now: datetime | None = None) -> Figures:
        """The page's headline numbers (days of the log's zone; "7 days" is today and the six before)."""
        day = current_day(self.log.timezone, now)
        return self._cached(("figures", day), lambda: self._figures(day))

    def _figures(self, today: date) -> Figures:
        week_start = (today - timedelta(days=6)).isoformat()
        with self.log.reading():
            spent = self.log.read(
                """SELECT COALESCE(SUM(CASE WHEN day = ? THEN charged END), 0),
                       COALESCE(SUM(CASE WHEN day >= ? THEN charged END), 0),
                       COALESCE(SUM(charged), 0), COALESCE(SUM(returned), 0) FROM job_days""",
                (today.isoformat(), week_start),
            )[0]
            by_status = self.log.read(
                "SELECT status, SUM(jobs) AS n FROM job_days GROUP BY status HAVING SUM(jobs) > 0 ORDER BY n DESC, status"
            )
        statuses = {str(s): int(n) for s, n in by_status}
        finished = statuses.get(JobStatus.SUCCEEDED, 0) + statuses.get(JobStatus.FAILED, 0)
        return Figures(
            spent_today=int(spent[0]),
            spent_7_days=int(spent[1]),
            spent_all_time=int(spent[2]),
            returned_on_failures=int(spent[3]),
            jobs_by_status=statuses,
            success_rate=statuses.get(JobStatus.SUCCEEDED, 0) / finished if finished else None,
            median_seconds_by_model={model: q[0] for model, q in self._quantiles().items()},
        )

    def _quantiles(self) -> dict[str, tuple[float, float]]:
        """Exact median and 90th percentile (linear between neighbours, as pandas) of seconds to a result, per model.

        Each is a ``LIMIT 2 OFFSET k`` walk along index ``jobs_result_ms`` from its nearer end, on one
        snapshot so the rollup's counts and the index agree. (PostgreSQL may sort a model's results instead
        where its statistics say that costs less, e.g. near the median; the answer is the same.)
        """
        def compute() -> dict[str, tuple[float, float]]:
            out = {}
            with self.log.reading():
                counts = self.log.read(
                    "SELECT model, SUM(timed) AS n FROM job_days GROUP BY model HAVING SUM(timed) > 0 ORDER BY model"
                )
                for model, n in counts:
                    median, p90 = (self._quantile(model, n, q) for q in (0.5, 0.9))
                    out[str(model)] = (median, p90)
            return out

        return self._cached(("quantiles",), compute)

    def _quantile(self, model: str, n: int, q: float) -> float:
        position = q * (n - 1)
        low = math.floor(position)
        ms = self.log.dialect.result_ms_sql
        base = f"SELECT {ms} FROM jobs WHERE {RESULT_MS_WHERE} AND model = ? ORDER BY {ms}"
        if low < n // 2:
            pair = [r[0] for r in self.log.read(f"{base} LIMIT 2 OFFSET ?", (model, low))]
        else:  # nearer the top: walk down from the slowest
            pair = [r[0] for r in self.log.read(f"{base} DESC LIMIT 2 OFFSET ?", (model, max(0, n - 2 - low)))][::-1]
            pair = pair[-1:] if low >= n - 1 else pair
        pair += pair[-1:] * (2 - len(pair))
        return (pair[0] + (position - low) * (pair[1] - pair[0])) / 1000

    def choices(self) -> Choices:
        """The models and statuses in the log, and its first and last day."""
        def compute() -> Choices:
            with self.log.reading():
                models = [r[0] for r in self.log.read("SELECT DISTINCT model FROM job_days ORDER BY model")]
                statuses = [r[0] for r in self.log.read("SELECT DISTINCT status FROM job_days ORDER BY status")]
                first, last = self.log.read("SELECT MIN(day), MAX(day) FROM job_days")[0]
            return Choices(models, statuses, _day(first), _day(last))

        return self._cached(("choices",), compute)

    def credits_per_day(self) -> pd.DataFrame:
        """Credits charged per day and model, one column per model (for a stacked bar chart)."""
        return self._cached(("credits_per_day",), lambda: self._per_day("model", "SUM(charged)"))

    def jobs_per_day(self) -> pd.DataFrame:
        """Job counts per day and status, one column per status."""
        return self._cached(("jobs_per_day",), lambda: self._per_day("status", "SUM(jobs)"))

    def _per_day(self, column: str, value: str) -> pd.DataFrame:
        rows = self.log.read(f"SELECT day, {column}, {value} FROM job_days GROUP BY day, {column}")
        if not rows:
            return pd.DataFrame()
        frame = pd.DataFrame([(_day(d), c, int(v)) for d, c, v in rows], columns=["day", column, "value"])
        table = frame.pivot_table(index="day", columns=column, values="value", aggfunc="sum", fill_value=0)
        return table.rename_axis(index="day", columns=column)

    def time_to_result(self) -> pd.DataFrame:
        """Median and 90th-percentile seconds to a result, per model (exact)."""
        return pd.DataFrame.from_dict(self._quantiles(), orient="index", columns=["median", "p90"]).rename_axis("model")

    def running(self, *, stuck_after: float, now: datetime | None = None) -> tuple[int, int]:
        """Jobs not finished yet, and how many of them have not changed for ``stuck_after`` seconds.

        Counted on the follower's index of unfinished jobs; kept for up to a minute while the log is unchanged.
        """
        moment = (now or datetime.now(UTC)).astimezone(UTC) - timedelta(seconds=stuck_after)
        threshold = moment.isoformat(timespec="minutes")
        sql = (f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN updated_at < ? THEN 1 ELSE 0 END), 0) "
               f"FROM jobs {self.log.dialect.indexed_by('jobs_pending')} WHERE {PENDING_WHERE}")
        return self._cached(("running", threshold), lambda: tuple(self.log.read(sql, (threshold,))[0]))

    # -- what a live page compares: cheap stamps of what it shows -----------------------------

    def rollup_stamp(self) -> tuple[tuple[Any, ...], ...]:
        """Per status: jobs, credits charged and returned, timed results, from the rollup. Every figure, count and
        chart moves only with these; a poll of a running job (which bumps the change counter) moves none of them."""
        sql = ("SELECT status, SUM(jobs), SUM(charged), SUM(returned), SUM(timed) FROM job_days "
               "GROUP BY status ORDER BY status")
        return self._cached(("rollup_stamp",), lambda: tuple(tuple(r) for r in self.log.read(sql)))

    def rows_stamp(self, ids: tuple[int, ...]) -> tuple[tuple[Any, ...], ...]:
        """The rows with ``ids`` as a page of the table reads them (status, credits, results, times, maker), by
        primary key: when it differs from the stamp taken as the page was drawn, the page shows a stale row."""
        if not ids:
            return ()
        sql = f"SELECT {_ROW_SQL} FROM jobs AS j WHERE j.id IN ({_marks(tuple(map(str, ids)))}) ORDER BY j.id"
        return tuple(tuple(r) for r in self.log.read(sql, list(ids)))

    # -- spend per person: the budgets' day boundary ------------------------------------------

    def _kept(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()``, kept for OLDER_SPEND_SECONDS whatever the log does: for totals of jobs over a week old,
        which a full read would otherwise redo whenever any running job changes."""
        now = monotonic()
        with self._lock:
            kept = self._older.get(key)
            if kept and now - kept[0] < OLDER_SPEND_SECONDS:
                return kept[1]
        value = compute()
        with self._lock:
            self._older = {k: v for k, v in self._older.items() if now - v[0] < OLDER_SPEND_SECONDS}
            self._older[key] = (now, value)
        return value

    def person_spend(self, person: str, *, now: datetime | None = None) -> Spend:
        """What ``person`` spent today, in the last 7 days (today and the six days before) and ever.

        Days start at midnight in the log's zone (``settings.budget_timezone``), as the per-person budget
        counts them. Read through index ``jobs_person``: the last 7 days fresh, the jobs before them kept
        for up to OLDER_SPEND_SECONDS.
        """
        today, week = day_start(self.log.timezone, now), day_start(self.log.timezone, now, days_back=6)
        by_person = self.log.dialect.indexed_by("jobs_person")
        recent = f"""SELECT COALESCE(SUM(CASE WHEN submitted_at >= ? THEN charged END), 0), COALESCE(SUM(charged), 0)
                     FROM (SELECT submitted_at, {CHARGED_SQL} AS charged FROM jobs {by_person}
                           WHERE person = ? AND submitted_at >= ?) AS recent"""
        older = f"SELECT COALESCE(SUM({CHARGED_SQL}), 0) FROM jobs {by_person} WHERE person = ? AND submitted_at < ?"
        day, seven = self._cached(("person_spend", person, today, week), lambda: self.log.read(recent, (today, person, week))[0])
        before = self._kept(("person_spend", person, week), lambda: self.log.read(older, (person, week))[0][0])
        return Spend(int(day), int(seven), int(seven) + int(before))

    def spend_by_person(self, *, now: datetime | None = None) -> list[PersonSpend]:
        """Everyone's jobs and spend (the admins' table), largest spend first; days of the log's zone.

        The last 7 days are read fresh through index ``jobs_submitted_at``; the jobs before them (a read
        of most of the log) are kept for up to OLDER_SPEND_SECONDS.
        """
        today, week = day_start(self.log.timezone, now), day_start(self.log.timezone, now, days_back=6)
        recent = f"""SELECT person, MAX(person_name), COUNT(*),
                            COALESCE(SUM(CASE WHEN submitted_at >= ? THEN charged END), 0), COALESCE(SUM(charged), 0)
                     FROM (SELECT person, person_name, submitted_at, {CHARGED_SQL} AS charged
                           FROM jobs {self.log.dialect.indexed_by("jobs_submitted_at")} WHERE submitted_at >= ?) AS recent
                     GROUP BY person"""
        older = f"""SELECT person, MAX(person_name), COUNT(*), COALESCE(SUM({CHARGED_SQL}), 0)
                    FROM jobs WHERE submitted_at < ? GROUP BY person"""
        fresh = self._cached(("spend_by_person", today, week), lambda: self.log.read(recent, (today, week)))
        before = self._kept(("spend_by_person", week), lambda: self.log.read(older, (week,)))
        people: dict[str | None, list] = {p: [n, int(c), 0, 0, int(s)] for p, n, c, s in before}
        for person, name, jobs, day, seven in fresh:
            row = people.setdefault(person, [name, 0, 0, 0, 0])
            row[0] = row[0] or name
            row[1:] = [row[1] + int(jobs), int(day), int(seven), row[4] + int(seven)]
        table = [PersonSpend(p, n or p or "", c, Spend(d, w, e)) for p, (n, c, d, w, e) in people.items()]
        return sorted(table, key=lambda r: (-r.spend.all_time, r.person or ""))

    # -- filtered rows: indexes and full-text search ---------------------------------------

    def count(self, jobs: JobFilter) -> int:
        """How many jobs match ``jobs``."""
        return self._cached(("count", jobs), lambda: self._count(jobs))

    def _count(self, jobs: JobFilter) -> int:
        sql, args = self._count_sql(jobs)
        return int(self.log.read(sql, args)[0][0])

    def _count_sql(self, jobs: JobFilter) -> tuple[str, list[Any]]:
        """The cheapest query counting ``jobs``: the rollup, the viewer's stars or person index, or the text index."""
        if not jobs.by_row:
            where, args = _rollup_where(jobs)
            return f"SELECT COALESCE(SUM(jobs), 0) FROM job_days WHERE {where}", args
        if not jobs.text.strip():
            source, where, source_args, _ = self._row_source(jobs)
            conditions, args = _row_where(jobs, self.log.timezone, stars=False)
            if jobs.starred_by is not None and not conditions:  # a star's job always exists (ON DELETE CASCADE)
                return "SELECT COUNT(*) FROM stars WHERE person = ?", [jobs.starred_by]
            return f"SELECT COUNT(*) FROM {source} WHERE {' AND '.join([where, *conditions])}", [*source_args, *args]
        conditions, args = _row_where(jobs, self.log.timezone)
        match = self.log.dialect.words_query(jobs.text)
        if match is not None and not conditions and self.log.dialect.is_sqlite:
            return "SELECT COUNT(*) FROM jobs_fts WHERE jobs_fts MATCH ?", [match]
        source, where, text_args = self._text_source(jobs)
        return f"SELECT COUNT(*) FROM {source} WHERE {' AND '.join([where, *conditions])}", [*text_args, *args]

    def _row_source(self, jobs: JobFilter) -> tuple[str, str, list[Any], str]:
        """FROM, condition, arguments and newest-first order for "Favourites" or "Mine" without text.

        Favourites walk this viewer's stars newest first (index ``stars_person``: person, job id) and
        look each job up by id, so the page needs no sort however large the log. "Mine" alone counts
        on index ``jobs_person`` (person, submitted_at), whatever other columns the filter names.
        """
        dialect = self.log.dialect
        if jobs.starred_by is not None:
            source = f"stars AS s {dialect.indexed_by('stars_person')} {dialect.join_in_order} jobs AS j ON j.id = s.job_id"
            return source, "s.person = ?", [jobs.starred_by], "s.job_id"
        if jobs.person is None:  # "Grids" alone: the grids' partial index (its condition is in ``_row_where``)
            return f"jobs AS j {dialect.indexed_by('jobs_grid')}", "true", [], "j.id"
        return f"jobs AS j {dialect.indexed_by('jobs_person')}", "true", [], "j.id"

    def _text_source(self, jobs: JobFilter) -> tuple[str, str, list[Any]]:
        """FROM, condition and arguments of a text search: FTS5 first (newest first), or LIKE without words.

        ``CROSS JOIN`` keeps the full-text index the outer loop: SQLite would otherwise probe it once
        per row of ``jobs``, which costs a whole search each time.
        """
        dialect = self.log.dialect
        match = dialect.words_query(jobs.text)
        if match is None:  # punctuation or symbols only: the index holds none, so read the prompts literally
            return "jobs AS j", f"j.prompt {dialect.like} ? ESCAPE '\\'", [_like_pattern(jobs.text.strip())]
        if not dialect.is_sqlite:
            return "jobs AS j", dialect.words_match("j."), [match]
        return "jobs_fts CROSS JOIN jobs AS j ON j.id = jobs_fts.rowid", "jobs_fts MATCH ?", [match]

    def page(self, jobs: JobFilter, *, offset: int = 0, limit: int = 100) -> pd.DataFrame:
        """Rows ``offset`` to ``offset + limit`` of the matching jobs, newest first, with CSV_COLUMNS and MADE_BY
        (times parsed). Kept while the log is unchanged, so a warm visit or another tab reads it once: one frame
        shared by every session, which callers read and never change."""
        return self._cached(("page", jobs, offset, limit), lambda: self._page(jobs, offset, limit))

    def _page(self, jobs: JobFilter, offset: int, limit: int) -> pd.DataFrame:
        sql, args = self._select(jobs, f"LIMIT {int(limit)} OFFSET {int(offset)}", offset + limit)
        rows = [_csv_row(r, made_by=True) for r in self.log.read(sql, args)]
        frame = pd.DataFrame(rows, columns=[*CSV_COLUMNS, MADE_BY])
        for column in ("submitted_at", "finished_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        for column in ("reserved_credits", "final_credits"):
            frame[column] = frame[column].astype("Int64")
        frame["seconds_to_result"] = frame["seconds_to_result"].astype("float64")
        return frame

    def _select(self, jobs: JobFilter, tail: str, reach: int) -> tuple[str, list[Any]]:
        """The query for matching rows, newest first, with ``tail`` (LIMIT/OFFSET) appended.

        Without text, the plan is chosen from the rollup's counts: when matches are common, walking
        the table newest first finds ``reach`` of them soonest; when rare, the index of the most
        selective condition does (SQLite alone has no statistics to tell the two apart).
        """
        conditions, args = _row_where(jobs, self.log.timezone)
        if jobs.text.strip():
            source, where, text_args = self._text_source(jobs)
            order = "jobs_fts.rowid" if source.startswith("jobs_fts") else "j.id"
            sql = f"SELECT {_ROW_SQL} FROM {source} WHERE {' AND '.join([where, *conditions])} ORDER BY {order} DESC {tail}"
            return sql, [*text_args, *args]
        if jobs.starred_by is not None:
            source, where, source_args, order = self._row_source(jobs)
            conditions, args = _row_where(jobs, self.log.timezone, stars=False)
            sql = f"SELECT {_ROW_SQL} FROM {source} WHERE {' AND '.join([where, *conditions])} ORDER BY {order} DESC {tail}"
            return sql, [*source_args, *args]
        where = " AND ".join(conditions) or "true"
        if not self.log.dialect.is_sqlite:  # PostgreSQL plans from its own statistics
            return f"SELECT {_ROW_SQL} FROM jobs AS j WHERE {where} ORDER BY j.id DESC {tail}", args
        hint = self._index_hint(jobs, reach)
        if hint == "NOT INDEXED":
            return f"SELECT {_ROW_SQL} FROM jobs AS j {hint} WHERE {where} ORDER BY j.id DESC {tail}", args
        # Through an index the matches come in index order and need a sort: sort their ids only (the index holds
        # them), then read the page's rows by id, instead of carrying every matching row's prompt through the sort.
        ids = f"SELECT j.id FROM jobs AS j {hint} WHERE {where} ORDER BY j.id DESC {tail}"
        return f"SELECT {_ROW_SQL} FROM jobs AS j WHERE j.id IN ({ids}) ORDER BY j.id DESC", args

    def _index_hint(self, jobs: JobFilter, reach: int) -> str:
        # Walking newest first reads about reach * total / matching rows; an index reads (and sorts) the matches.
        matching = self.count(jobs)
        if matching * matching >= reach * max(1, self.total()):
            return "NOT INDEXED"
        narrowest = {
            "jobs_model": JobFilter(models=jobs.models) if jobs.models else None,
            "jobs_status": JobFilter(statuses=jobs.statuses) if jobs.statuses else None,
            "jobs_submitted_at": JobFilter(start=jobs.start, end=jobs.end) if jobs.start or jobs.end else None,
            "jobs_person": JobFilter(person=jobs.person) if jobs.person is not None else None,
            "jobs_grid": JobFilter(grids_only=True) if jobs.grids_only else None,
        }
        sizes = {index: self.count(part) for index, part in narrowest.items() if part is not None}
        return f"INDEXED BY {min(sizes, key=sizes.__getitem__)}" if sizes else "NOT INDEXED"

    def csv_chunks(self, jobs: JobFilter, *, made_by: bool = False, chunk_rows: int = 2000) -> Iterator[bytes]:
        """Every matching job as UTF-8 CSV (header first), newest first, a chunk of rows at a time; with a MADE_BY
        column last when ``made_by`` (people sign in)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*CSV_COLUMNS, MADE_BY] if made_by else CSV_COLUMNS)
        sql, args = self._select(jobs, "", self.total())
        for rows in self.log.read_chunks(sql, args, chunk_rows):
            writer.writerows(_csv_row(r, made_by=made_by) for r in rows)
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode("utf-8")

    def to_csv(self, jobs: JobFilter, *, made_by: bool = False) -> bytes:
        """Every matching job as one UTF-8 CSV (what the download button serves, which holds it whole).

        Chunks go into one growing buffer, whose ``getvalue()`` hands over its bytes without a copy.
        """
        buffer = io.BytesIO()
        for chunk in self.csv_chunks(jobs, made_by=made_by):
            buffer.write(chunk)
        return buffer.getvalue()


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
