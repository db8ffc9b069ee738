"""The few pieces of the log's SQL that differ between SQLite and PostgreSQL, each named once.

Everything else is written once in portable SQL. What differs:

- how a transaction begins (see ``rivya.database``);
- planner hints: SQLite has no statistics, so the log's queries name the index to read (``INDEXED BY``)
  or keep it off one (a unary ``+``); PostgreSQL plans from statistics and takes no hints;
- a submit time's day (in the budget zone) and a job's milliseconds to a result (SQLite computes them with ``date()`` and
  ``julianday()``; PostgreSQL keeps ``result_ms`` in a column its trigger fills, so an index can hold it);
- prompt words: an FTS5 table on SQLite, a ``tsvector`` GIN index on PostgreSQL (``simple`` configuration:
  every word kept, any case; unlike SQLite's tokenizer it does not fold accents, and it folds the case of
  letters beyond ASCII only where the database's ``LC_CTYPE`` is a real locale such as ``C.UTF-8``, not
  plain ``C``). Either way every word must appear, and a word of ``PREFIX_MIN_CHARS`` or more also matches
  longer words it starts. Words are the runs of letters and digits on both: PostgreSQL's parser would
  otherwise keep ``file.png`` or ``ana@example.com`` whole and drop ``<glowing>`` as markup, so ASCII
  punctuation is read as spaces before it parses.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

from .budgets import zone_offsets
from .constants import PREFIX_MIN_CHARS

WORD = re.compile(r"[^\W_]+")  # letters and digits: what either engine's word index keeps
WRITE_LOCK_KEY = 7_305_520_431  # any number a PostgreSQL advisory lock can hold; every replica's writers queue on it
# ASCII punctuation, each read as a space before PostgreSQL's parser sees a prompt (as a SQL literal: quote doubled).
_PUNCTUATION_SQL = "'" + string.punctuation.replace("'", "''") + "'"


def pg_words(alias: str = "") -> str:
    """The words of a prompt on PostgreSQL (``alias`` with its dot, e.g. ``"j."``): what index ``jobs_prompt_words`` holds."""
    return f"to_tsvector('simple', translate({alias}prompt, {_PUNCTUATION_SQL}, '{' ' * len(string.punctuation)}'))"


# The PostgreSQL expression index ``jobs_prompt_words`` is built on exactly this; ``words_match`` repeats it.
PG_WORDS = pg_words()


def fts5_query(text: str) -> str | None:
    """An FTS5 query for the words of ``text``, or None when it has no letters or digits.

    Every whitespace-separated word must appear (any order, any case, accents ignored), as a
    quoted phrase so no user text is ever read as FTS syntax; a word whose last run of letters
    is ``PREFIX_MIN_CHARS`` or longer also matches as the start of a longer word.
    """
    phrases = []
    for chunk in text.split():
        words = WORD.findall(chunk)
        if not words:
            continue  # only punctuation: nothing the index holds
        star = "*" if len(words[-1]) >= PREFIX_MIN_CHARS else ""
        phrases.append('"' + chunk.replace('"', '""') + '"' + star)
    return " AND ".join(phrases) or None


def tsquery(text: str) -> str | None:
    """The same question as ``fts5_query`` for PostgreSQL's ``to_tsquery('simple', …)``, or None.

    Built from letters and digits only (no operator of the user's ever reaches the parser): the runs of
    one whitespace-separated word follow each other (``<->``), and every word must appear (``&``).
    """
    phrases = []
    for chunk in text.split():
        words = WORD.findall(chunk)  # case is left to the ``simple`` dictionary, which folds query and prompts alike
        if not words:
            continue
        if len(words[-1]) >= PREFIX_MIN_CHARS:
            words[-1] += ":*"
        phrases.append(" <-> ".join(words))
    return " & ".join(f"({p})" for p in phrases) or None


@dataclass(frozen=True)
class Dialect:
    name: str

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    def begin(self, *, exclusive: bool, snapshot: bool) -> tuple[str, ...]:
        """The statements opening a transaction (``rivya.database.Database.transaction``)."""
        if self.is_sqlite:
            return ("BEGIN IMMEDIATE",) if exclusive else ("BEGIN",)
        if snapshot:
            return ("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",)
        return ("BEGIN", f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})") if exclusive else ("BEGIN",)

    def indexed_by(self, index: str) -> str:
        """Read this table through ``index`` (SQLite); nothing on PostgreSQL."""
        return f"INDEXED BY {index}" if self.is_sqlite else ""

    def unindexed(self, column: str) -> str:
        """``column`` in a condition that must not choose its index (SQLite's unary ``+``)."""
        return f"+{column}" if self.is_sqlite else column

    @property
    def join_in_order(self) -> str:
        """A join whose left table stays the outer loop (SQLite's ``CROSS JOIN`` with ``ON``); a plain join elsewhere."""
        return "CROSS JOIN" if self.is_sqlite else "JOIN"

    def day_sql(self, timezone: str = "UTC") -> str:
        """The day of a submit time in ``timezone`` (``rivya.budgets``' calendar), as ``YYYY-MM-DD``.

        The log writes UTC ISO stamps. A zone that is UTC all along keeps the plain UTC day (SQLite's date()
        also normalises other offsets). Otherwise PostgreSQL converts with its own time-zone database
        (``TaskLog`` checks at open that it knows the zone). SQLite has none: the stamp's offset is found by
        comparing it as text with the zone's changes of offset (``zone_offsets``, Python's database, the one
        the budgets use) in a balanced tree of ``CASE`` (a few comparisons per row), then added to the stamp.
        Plain SQL on purpose: any client (the ``sqlite3`` shell, a restore script) can still write the log,
        which a function registered by this app would forbid, and a new time-zone database that changes a
        zone's offsets changes this text, so the rollup is refilled (``TaskLog._sync_rollup``).
        """
        first, changes = zone_offsets(timezone)
        if first == 0 and not changes:
            return "COALESCE(date(submitted_at), substr(submitted_at, 1, 10))" if self.is_sqlite else "left(submitted_at, 10)"
        if not self.is_sqlite:
            zone = timezone.replace("'", "''")
            return f"to_char(submitted_at::timestamptz AT TIME ZONE '{zone}', 'YYYY-MM-DD')"
        return f"COALESCE(date(submitted_at, ({_offset_tree(first, changes)}) || ' seconds'), substr(submitted_at, 1, 10))"

    @property
    def result_ms_sql(self) -> str:
        """Milliseconds from submit to result, exactly as index ``jobs_result_ms`` holds it."""
        if self.is_sqlite:
            return "CAST(ROUND((julianday(finished_at) - julianday(submitted_at)) * 86400000) AS INTEGER)"
        return "result_ms"

    @property
    def like(self) -> str:
        """Case-insensitive ``LIKE`` (SQLite's own is, for ASCII)."""
        return "LIKE" if self.is_sqlite else "ILIKE"

    def words_query(self, text: str) -> str | None:
        """The argument of ``words_match`` for the words of ``text``, or None when it has none."""
        return fts5_query(text) if self.is_sqlite else tsquery(text)

    def words_match(self, alias: str = "") -> str:
        """A condition on a ``jobs`` row (``alias`` with its dot, e.g. ``"j."``): its prompt holds the words of ``?``."""
        if self.is_sqlite:
            return f"{alias}id IN (SELECT rowid FROM jobs_fts WHERE jobs_fts MATCH ?)"
        return f"{pg_words(alias)} @@ to_tsquery('simple', ?)"


def _offset_tree(first: int, changes: Sequence[tuple[str, int]]) -> str:
    """Seconds east of UTC at ``submitted_at``: ``first`` before the first change, then each change's offset."""
    if not changes:
        return str(first)
    middle = len(changes) // 2
    since, offset = changes[middle]
    return (f"CASE WHEN submitted_at < '{since}' THEN {_offset_tree(first, changes[:middle])} "
            f"ELSE {_offset_tree(offset, changes[middle + 1:])} END")


SQLITE = Dialect("sqlite")
POSTGRESQL = Dialect("postgresql")
