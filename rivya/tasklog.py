"""The task log: one row per job, the single record of everything submitted.

A row is written before the create request is sent, so a job survives a crash between
sending and the reply. The log lives in a SQLite file (WAL mode: the follower and many
browser sessions read and write at once) or, for several app replicas, in a PostgreSQL
database (``DATABASE_URL``); ``rivya.database`` reaches either the same way, and the
schema below is written once per engine, version for version.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

import pandas as pd
import psycopg

from . import constants
from .budgets import zone_offsets
from .database import Database, Row, Transaction, Unwritable, statement
from .dialect import PG_WORDS, POSTGRESQL, SQLITE, Dialect
from .errors import StorageError
from .money import CHARGED_SQL, RETURNED_SQL, charged_credits, returned_credits
from .status import TERMINAL, JobStatus, sql_in, sql_status

# v7 of both engines (the same SQL in each): Explore's grids.
# When a replica last verified a signed webhook delivery, in seconds since the epoch on its clock (0: never): every
# replica relaxes its polling while any one of them receives deliveries, since the service delivers each event to one
# address and only the newest replica holds the secret it signs with. A health stamp, not a secret.
_WEBHOOK_HEALTH = """
    CREATE TABLE webhook_health (one INTEGER PRIMARY KEY CHECK (one = 1), seen_at DOUBLE PRECISION NOT NULL);
    INSERT INTO webhook_health (one, seen_at) VALUES (1, 0);
"""
_GRIDS = """
ALTER TABLE jobs ADD COLUMN grid_id TEXT;
CREATE INDEX jobs_grid ON jobs (grid_id) WHERE grid_id IS NOT NULL;
CREATE TABLE grids (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    axes TEXT NOT NULL DEFAULT '{}',
    cells INTEGER NOT NULL,
    person TEXT,
    person_name TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX grids_created ON grids (created_at);
"""

# Each entry moves the schema one version up; never edit a shipped entry, append one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        idempotency_key TEXT NOT NULL UNIQUE,
        backend TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT,
        model TEXT NOT NULL,
        category TEXT NOT NULL,
        prompt TEXT NOT NULL,
        params TEXT NOT NULL,
        reference_path TEXT,
        reference_url TEXT,
        task_id TEXT,
        status TEXT NOT NULL,
        reserved_credits INTEGER,
        final_credits INTEGER,
        result_urls TEXT NOT NULL DEFAULT '[]',
        media_paths TEXT NOT NULL DEFAULT '[]',
        error_code TEXT,
        error_message TEXT,
        page TEXT,
        session_id TEXT,
        polls INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_submitted_at ON jobs (submitted_at);
    CREATE INDEX jobs_status ON jobs (status);
    CREATE UNIQUE INDEX jobs_task_id ON jobs (backend, task_id) WHERE task_id IS NOT NULL;
    """,
    # v2: whose key sent the job (a fingerprint, never the key) and what it was expected to cost.
    """
    ALTER TABLE jobs ADD COLUMN key_owner TEXT NOT NULL DEFAULT 'shared';
    ALTER TABLE jobs ADD COLUMN expected_credits INTEGER;
    """,
    # v3: why a succeeded job's result could not be saved here (NULL: saved, or not tried yet).
    """
    ALTER TABLE jobs ADD COLUMN media_error TEXT;
    """,
    # v4: History in SQL. The follower's pending query reads a partial index; model filters and times to
    # a result (exact medians by offset) have indexes; prompts get full-text search (an external-content
    # FTS5 table kept by triggers, back-filled here); a one-row counter tells readers that anything changed.
    """
    CREATE INDEX jobs_pending ON jobs (backend, id) WHERE status NOT IN ('succeeded','failed','rejected','unconfirmed');
    CREATE INDEX jobs_model ON jobs (model);
    CREATE INDEX jobs_result_ms
        ON jobs (model, CAST(ROUND((julianday(finished_at) - julianday(submitted_at)) * 86400000) AS INTEGER))
        WHERE status = 'succeeded' AND finished_at IS NOT NULL;
    CREATE VIRTUAL TABLE jobs_fts USING fts5 (
        prompt, content = 'jobs', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER jobs_fts_insert AFTER INSERT ON jobs BEGIN
        INSERT INTO jobs_fts (rowid, prompt) VALUES (new.id, new.prompt);
    END;
    CREATE TRIGGER jobs_fts_delete AFTER DELETE ON jobs BEGIN
        INSERT INTO jobs_fts (jobs_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
    END;
    CREATE TRIGGER jobs_fts_update AFTER UPDATE OF prompt ON jobs BEGIN
        INSERT INTO jobs_fts (jobs_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
        INSERT INTO jobs_fts (rowid, prompt) VALUES (new.id, new.prompt);
    END;
    INSERT INTO jobs_fts (jobs_fts) VALUES ('rebuild');
    CREATE TABLE log_changes (one INTEGER PRIMARY KEY CHECK (one = 1), rows INTEGER NOT NULL, changes INTEGER NOT NULL);
    INSERT INTO log_changes (one, rows, changes) SELECT 1, COUNT(*), 0 FROM jobs;
    CREATE TRIGGER log_changes_insert AFTER INSERT ON jobs BEGIN
        UPDATE log_changes SET rows = rows + 1, changes = changes + 1;
    END;
    CREATE TRIGGER log_changes_update AFTER UPDATE ON jobs BEGIN
        UPDATE log_changes SET changes = changes + 1;
    END;
    CREATE TRIGGER log_changes_delete AFTER DELETE ON jobs BEGIN
        UPDATE log_changes SET rows = rows - 1, changes = changes + 1;
    END;
    """,
    # v5: a studio for a team. Who made a job (an email or OpenID subject, and a display name; NULL before sign-in
    # existed or without it), the batch a job belongs to (one press of Generate with "How many"), the job whose
    # result it started from (Animate), and the preset it was made from. Stars are per result and per person
    # ('' when nobody is signed in); presets are shared by the whole team; tags label results.
    """
    ALTER TABLE jobs ADD COLUMN person TEXT;
    ALTER TABLE jobs ADD COLUMN person_name TEXT;
    ALTER TABLE jobs ADD COLUMN batch_id TEXT;
    ALTER TABLE jobs ADD COLUMN parent_id INTEGER REFERENCES jobs (id);
    ALTER TABLE jobs ADD COLUMN preset_id INTEGER;
    -- Covering for a person's spend and History's "Mine" (filters by status or model read only the index).
    CREATE INDEX jobs_person ON jobs (person, submitted_at, status, model, reserved_credits, final_credits, expected_credits)
        WHERE person IS NOT NULL;
    CREATE INDEX jobs_batch ON jobs (batch_id) WHERE batch_id IS NOT NULL;
    CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;
    CREATE INDEX jobs_results ON jobs (id) WHERE status = 'succeeded';
    CREATE TABLE stars (
        job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        person TEXT NOT NULL DEFAULT '',
        starred_at TEXT NOT NULL,
        PRIMARY KEY (job_id, person)
    ) WITHOUT ROWID;
    CREATE INDEX stars_person ON stars (person, job_id);
    CREATE TABLE tags (
        job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        tag TEXT NOT NULL COLLATE NOCASE,
        PRIMARY KEY (job_id, tag)
    ) WITHOUT ROWID;
    CREATE INDEX tags_tag ON tags (tag, job_id);
    CREATE TABLE presets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        created_by TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        builtin INTEGER NOT NULL DEFAULT 0
    );
    -- What has been seeded into this database (e.g. the shipped presets), by marker name. A marker is never
    -- removed, so a shipped preset the team deleted stays deleted.
    CREATE TABLE seeded (name TEXT PRIMARY KEY, seeded_at TEXT NOT NULL);
    """,
    # v6: how many creates went out for a row (``TaskLog.count_send``, before each one), so "its first send" is a fact.
    # A row from before may have been sent: it counts as sent once, and a refusal of its next send never proves that
    # nothing was made. New rows are written with 0 (``TaskLog.add_in``).
    """
    ALTER TABLE jobs ADD COLUMN sends INTEGER NOT NULL DEFAULT 1;
    """,
    # v7: Explore's grids. A grid is one press: its jobs carry its id (``grid_id``) and ``grids`` keeps what it was
    # planned from (``rivya.explore.plan_grid``: model, prompt as written, fixed settings, the setting axes), which
    # alone redraws it labelled by row and column; cell n is the job with the key ``<id>-<n>``.
    _GRIDS,
    # v8: when a replica last verified a signed webhook delivery (``rivya.webhooks.WebhookHealth``).
    _WEBHOOK_HEALTH,
)
# PostgreSQL's schema, written anew at the version SQLite reached through ``MIGRATIONS`` (a PostgreSQL log starts
# there): the same tables, columns and indexes, in PostgreSQL's words. Each entry is (version reached, script);
# a later migration appends one entry here and one to ``MIGRATIONS``. PostgreSQL's own parts:
# - ``result_ms``, filled by a trigger, stands for SQLite's julianday() expression (an index needs a column
#   or an immutable expression, and reading a text stamp as a time is not immutable);
# - prompts are searched through a GIN index on their words (``rivya.dialect.PG_WORDS``) instead of an FTS5 table;
# - tags and preset names compare in any case through ``citext`` (SQLite: COLLATE NOCASE);
# - ``leases``: which replica's follower polls a job, until when (``TaskLog.claim``).
POSTGRES_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (5, f"""
    CREATE EXTENSION IF NOT EXISTS citext;
    CREATE TABLE jobs (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        idempotency_key TEXT NOT NULL UNIQUE,
        backend TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT,
        model TEXT NOT NULL,
        category TEXT NOT NULL,
        prompt TEXT NOT NULL,
        params TEXT NOT NULL,
        reference_path TEXT,
        reference_url TEXT,
        task_id TEXT,
        status TEXT NOT NULL,
        reserved_credits INTEGER,
        final_credits INTEGER,
        result_urls TEXT NOT NULL DEFAULT '[]',
        media_paths TEXT NOT NULL DEFAULT '[]',
        error_code TEXT,
        error_message TEXT,
        page TEXT,
        session_id TEXT,
        polls INTEGER NOT NULL DEFAULT 0,
        key_owner TEXT NOT NULL DEFAULT 'shared',
        expected_credits INTEGER,
        media_error TEXT,
        person TEXT,
        person_name TEXT,
        batch_id TEXT,
        parent_id BIGINT REFERENCES jobs (id),
        preset_id BIGINT,
        result_ms BIGINT
    );
    CREATE INDEX jobs_submitted_at ON jobs (submitted_at);
    CREATE INDEX jobs_status ON jobs (status);
    CREATE UNIQUE INDEX jobs_task_id ON jobs (backend, task_id) WHERE task_id IS NOT NULL;
    CREATE INDEX jobs_pending ON jobs (backend, id) WHERE status NOT IN ('succeeded','failed','rejected','unconfirmed');
    -- with jobs_pending, what the follower's claim reads (TaskLog.claim: pending or succeeded and not saved yet)
    CREATE INDEX jobs_unsaved ON jobs (backend, id)
        WHERE status = 'succeeded' AND media_error IS NULL AND media_paths = '[]' AND result_urls != '[]';
    CREATE INDEX jobs_model ON jobs (model);
    CREATE INDEX jobs_result_ms ON jobs (model, result_ms) WHERE status = 'succeeded' AND finished_at IS NOT NULL;
    CREATE INDEX jobs_prompt_words ON jobs USING GIN ({PG_WORDS});
    CREATE INDEX jobs_person ON jobs (person, submitted_at)
        INCLUDE (status, model, reserved_credits, final_credits, expected_credits) WHERE person IS NOT NULL;
    CREATE INDEX jobs_batch ON jobs (batch_id) WHERE batch_id IS NOT NULL;
    CREATE INDEX jobs_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;
    CREATE INDEX jobs_results ON jobs (id) WHERE status = 'succeeded';
    CREATE FUNCTION jobs_result_ms() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.result_ms := CASE WHEN NEW.finished_at IS NOT NULL THEN
            ROUND(EXTRACT(EPOCH FROM (NEW.finished_at::timestamptz - NEW.submitted_at::timestamptz)) * 1000)::BIGINT END;
        RETURN NEW;
    END $$;
    CREATE TRIGGER jobs_result_ms BEFORE INSERT OR UPDATE OF submitted_at, finished_at ON jobs
        FOR EACH ROW EXECUTE FUNCTION jobs_result_ms();
    -- The change counter is taken BEFORE the row changes: every writer of jobs then queues on this one row first,
    -- so writers never take the rollup's rows in different orders (no deadlocks between replicas).
    CREATE TABLE log_changes (one INTEGER PRIMARY KEY CHECK (one = 1), rows BIGINT NOT NULL, changes BIGINT NOT NULL);
    INSERT INTO log_changes (one, rows, changes) VALUES (1, 0, 0);
    CREATE FUNCTION jobs_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE log_changes SET changes = changes + 1,
            rows = rows + CASE TG_OP WHEN 'INSERT' THEN 1 WHEN 'DELETE' THEN -1 ELSE 0 END;
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END $$;
    CREATE TRIGGER jobs_changes BEFORE INSERT OR UPDATE OR DELETE ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_changes();
    CREATE TABLE stars (
        job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        person TEXT NOT NULL DEFAULT '',
        starred_at TEXT NOT NULL,
        PRIMARY KEY (job_id, person)
    );
    CREATE INDEX stars_person ON stars (person, job_id);
    CREATE TABLE tags (
        job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        tag CITEXT NOT NULL,
        PRIMARY KEY (job_id, tag)
    );
    CREATE INDEX tags_tag ON tags (tag, job_id);
    CREATE TABLE presets (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name CITEXT NOT NULL UNIQUE,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{{}}',
        created_by TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        builtin INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE seeded (name TEXT PRIMARY KEY, seeded_at TEXT NOT NULL);
    CREATE TABLE leases (
        job_id BIGINT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
        holder TEXT NOT NULL,
        until DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX leases_holder ON leases (holder);
    -- How many times someone pressed "Check now" (History): every replica's follower looks at the jobs it holds.
    CREATE TABLE rechecks (one INTEGER PRIMARY KEY CHECK (one = 1), asked BIGINT NOT NULL);
    INSERT INTO rechecks (one, asked) VALUES (1, 0);
    CREATE TABLE rollup_definition (name TEXT PRIMARY KEY, sql TEXT NOT NULL);
    CREATE TABLE schema_version (version INTEGER NOT NULL);
    INSERT INTO schema_version (version) VALUES (0);
    """),
    # v6, as SQLite's: a row from before counts as sent once.
    (6, """
    ALTER TABLE jobs ADD COLUMN sends INTEGER NOT NULL DEFAULT 1;
    """),
    # v7, as SQLite's: Explore's grids.
    (7, _GRIDS),
    # v8, as SQLite's: the webhook deliveries' health stamp.
    (8, _WEBHOOK_HEALTH),
)
SHARED_OWNER = "shared"
logger = logging.getLogger("rivya.tasklog")

_SUCCEEDED = sql_status(JobStatus.SUCCEEDED)
# The follower's question, written exactly as index ``jobs_pending``'s WHERE (v4) so SQLite can use that index;
# tests check it names every TERMINAL status (a new one needs a migration that re-creates the index).
PENDING_WHERE = f"status NOT IN {sql_in(TERMINAL)}"
# A succeeded job whose result nobody has saved yet. On PostgreSQL it stays leased like a pending one until it is saved,
# so a replica that dies mid-download loses it to another (``TaskLog.claim``, ``TaskLog.claimed_unsaved``).
UNSAVED_WHERE = f"(status = {_SUCCEEDED} AND media_error IS NULL AND media_paths = '[]' AND result_urls != '[]')"
CLAIMABLE_WHERE = f"({PENDING_WHERE} OR {UNSAVED_WHERE})"
# Seconds since the epoch on the PostgreSQL server's clock: one clock for every replica's leases.
_SERVER_TIME = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"
# Which jobs have a time to a result: the WHERE of index ``jobs_result_ms`` on both engines.
RESULT_MS_WHERE = f"status = {_SUCCEEDED} AND finished_at IS NOT NULL"
# Whose jobs a viewer follows (``TaskLog.pending_ids``, ``TaskLog.viewer_news``): a signed-in person's, or one browser
# session's.
VIEWER_COLUMNS = frozenset({"person", "session_id"})
_BRIEF = "id, category, status, prompt, batch_id, grid_id"

_ROLLUP_COLUMNS = ("submitted_at", "finished_at", "model", "status", "reserved_credits", "final_credits", "expected_credits")


def _rollup_row(day: str, row: str) -> str:
    """One job's contribution to ``job_days`` (``day``: ``Dialect.day_sql``); ``row`` is ``new`` or ``old`` in a trigger."""
    values = ", ".join(f"{row}.{c} AS {c}" for c in _ROLLUP_COLUMNS)
    return (f"SELECT {day} AS day, model, status, {CHARGED_SQL} AS charged, {RETURNED_SQL} AS returned, "
            f"CASE WHEN {RESULT_MS_WHERE} THEN 1 ELSE 0 END AS timed FROM (SELECT {values}) AS r")


def _rollup_add(day: str, row: str, sign: str) -> str:
    return (f"INSERT INTO job_days (day, model, status, jobs, charged, returned, timed) "
            f"SELECT day, model, status, {sign}1, {sign}charged, {sign}returned, {sign}timed "
            f"FROM ({_rollup_row(day, row)}) AS c WHERE true "
            "ON CONFLICT (day, model, status) DO UPDATE SET jobs = job_days.jobs + excluded.jobs, "
            "charged = job_days.charged + excluded.charged, returned = job_days.returned + excluded.returned, "
            "timed = job_days.timed + excluded.timed;")


def _rollup_drop_empty(day: str, row: str) -> str:
    return (f"DELETE FROM job_days WHERE jobs = 0 AND (day, model, status) = "
            f"(SELECT day, model, status FROM ({_rollup_row(day, row)}) AS c);")


_ROLLUP_CHANGED = " OR ".join(f"old.{c} IS NOT new.{c}" for c in _ROLLUP_COLUMNS)
_ROLLUP_TABLE = """CREATE TABLE job_days (
    day TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL, jobs INTEGER NOT NULL, charged INTEGER NOT NULL,
    returned INTEGER NOT NULL, timed INTEGER NOT NULL, PRIMARY KEY (day, model, status)
)"""
# Jobs, credits charged and returned and timed results per (day, model, status), kept by triggers: every
# figure, chart and filter count of History reads this small table, never the whole log. Days are those of the
# budget zone (``rivya.budgets``), and the rollup embeds ``rivya.money``'s rule, so it is not a migration: opening
# a log re-creates and refills it whenever this definition differs from the stored one (the money rule or the
# zone changed).
def sqlite_rollup(timezone: str = "UTC") -> dict[str, str]:
    """The rollup's table and triggers on SQLite, counting days in ``timezone``."""
    day = SQLITE.day_sql(timezone)
    return {
        "job_days": _ROLLUP_TABLE + " WITHOUT ROWID",
        "job_days_insert": f"CREATE TRIGGER job_days_insert AFTER INSERT ON jobs BEGIN\n{_rollup_add(day, 'new', '')}\nEND",
        "job_days_update": (
            f"CREATE TRIGGER job_days_update AFTER UPDATE OF {', '.join(_ROLLUP_COLUMNS)} ON jobs WHEN {_ROLLUP_CHANGED} BEGIN\n"
            f"{_rollup_add(day, 'old', '-')}\n{_rollup_add(day, 'new', '')}\n{_rollup_drop_empty(day, 'old')}\nEND"
        ),
        "job_days_delete": f"CREATE TRIGGER job_days_delete AFTER DELETE ON jobs BEGIN\n{_rollup_add(day, 'old', '-')}\n"
                           f"{_rollup_drop_empty(day, 'old')}\nEND",
    }


_PG_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _ROLLUP_COLUMNS)


def postgres_rollup(timezone: str = "UTC") -> dict[str, str]:
    """The same rollup on PostgreSQL: one trigger function for the three events, kept and compared the same way
    (its definition is stored in ``rollup_definition``; PostgreSQL has no ``sqlite_master`` holding the text)."""
    day = POSTGRESQL.day_sql(timezone)
    return {
        "job_days": _ROLLUP_TABLE,
        "job_days_count": f"""CREATE FUNCTION job_days_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            {_rollup_add(day, 'OLD', '-')}
        END IF;
        IF TG_OP <> 'DELETE' THEN
            {_rollup_add(day, 'NEW', '')}
        END IF;
        IF TG_OP <> 'INSERT' THEN
            {_rollup_drop_empty(day, 'OLD')}
        END IF;
        RETURN NULL;
    END $$""",
        "job_days_insert": "CREATE TRIGGER job_days_insert AFTER INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION job_days_count()",
        "job_days_update": (f"CREATE TRIGGER job_days_update AFTER UPDATE OF {', '.join(_ROLLUP_COLUMNS)} ON jobs "
                            f"FOR EACH ROW WHEN ({_PG_CHANGED}) EXECUTE FUNCTION job_days_count()"),
        "job_days_delete": "CREATE TRIGGER job_days_delete AFTER DELETE ON jobs FOR EACH ROW EXECUTE FUNCTION job_days_count()",
    }


ROLLUP, POSTGRES_ROLLUP = sqlite_rollup(), postgres_rollup()  # in UTC days


def _rollup_fill(dialect: Dialect, timezone: str) -> str:
    return f"""INSERT INTO job_days (day, model, status, jobs, charged, returned, timed)
    SELECT {dialect.day_sql(timezone)}, model, status, COUNT(*), SUM({CHARGED_SQL}), SUM({RETURNED_SQL}),
           SUM(CASE WHEN {RESULT_MS_WHERE} THEN 1 ELSE 0 END)
    FROM jobs GROUP BY 1, 2, 3"""


_JSON_COLUMNS = ("params", "result_urls", "media_paths")
_INSERTABLE = frozenset(
    {
        "idempotency_key", "backend", "submitted_at", "updated_at", "model", "category", "prompt", "params",
        "reference_path", "reference_url", "status", "page", "session_id", "key_owner", "expected_credits", "person",
        "person_name", "batch_id", "parent_id", "preset_id", "sends", "grid_id",
    }
)
_UPDATABLE = frozenset(
    {
        "updated_at", "finished_at", "task_id", "status", "reserved_credits", "final_credits", "result_urls",
        "media_paths", "error_code", "error_message", "polls", "reference_url", "media_error",
    }
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Brief(NamedTuple):
    """The few columns of a job that say what became of it (``TaskLog.viewer_news``)."""

    id: int
    category: str
    status: str
    prompt: str
    batch_id: str | None
    grid_id: str | None = None  # the Explore grid it is a cell of: that page shows it


@dataclass(frozen=True)
class Job:
    """One row of the log."""

    id: int
    idempotency_key: str
    backend: str
    submitted_at: str
    updated_at: str
    finished_at: str | None
    model: str
    category: str
    prompt: str
    params: dict[str, Any]
    reference_path: str | None
    reference_url: str | None
    task_id: str | None
    status: str
    reserved_credits: int | None
    final_credits: int | None
    result_urls: list[str]
    media_paths: list[str]
    error_code: str | None
    error_message: str | None
    page: str | None
    session_id: str | None
    polls: int
    key_owner: str
    expected_credits: int | None
    media_error: str | None = None
    person: str | None = None
    person_name: str | None = None
    batch_id: str | None = None
    parent_id: int | None = None
    preset_id: int | None = None
    sends: int = 0
    grid_id: str | None = None  # the Explore grid this job is a cell of (``rivya.grids``)

    @property
    def is_done(self) -> bool:
        return self.status in TERMINAL

    @property
    def awaits_media(self) -> bool:
        """Succeeded with result links, but no copy saved here yet and no failure recorded."""
        return self.status == JobStatus.SUCCEEDED and bool(self.result_urls) and not self.media_paths and not self.media_error

    @property
    def charged_credits(self) -> int:
        """What this job cost or holds (``rivya.money``'s one definition)."""
        return charged_credits(self.status, self.reserved_credits, self.final_credits, self.expected_credits)

    @property
    def elapsed_seconds(self) -> float:
        """Seconds from submit to finish, or to now while the job runs."""
        end = datetime.fromisoformat(self.finished_at) if self.finished_at else datetime.now(UTC)
        return max(0.0, (end - datetime.fromisoformat(self.submitted_at)).total_seconds())

    @property
    def credits_returned(self) -> int:
        """Credits reserved but given back (a failed task is refunded)."""
        return returned_credits(self.status, self.reserved_credits, self.final_credits)


class TaskLog:
    """The job log in a SQLite file (a path) or a database named by URL; safe to share between threads."""

    def __init__(self, where: Path | str, timezone: str = "UTC") -> None:
        """Open (and migrate) the log at ``where``; its rollup counts days in ``timezone`` (``BUDGET_TIMEZONE``)."""
        self.timezone = timezone
        # The page run the calling thread is in, or None (set by the app, ``ui.services``): an object that lives as
        # long as the run, held weakly, under which ``signature`` keeps the counter once per run.
        self.run_key: Callable[[], object | None] = lambda: None
        self._runs: WeakKeyDictionary[object, tuple[int, int, int]] = WeakKeyDictionary()
        self._runs_lock = threading.Lock()
        zone_offsets(timezone)  # an unknown zone fails here, before the database is touched
        self.db = Database(where)
        self.dialect = self.db.dialect
        self.path = self.db.path  # the SQLite file; None on PostgreSQL
        self.name = self.db.name
        if self.dialect.is_sqlite:
            # WAL must be switched on outside a transaction, where SQLite would ignore it.
            self.db.execute("PRAGMA journal_mode=WAL")
        # Replicas starting together queue here (one migrates, the others then find nothing to do).
        with self.db.transaction(exclusive=True) as db:
            if self.dialect.is_sqlite:
                self._migrate_sqlite(db)
            else:
                self._migrate_postgres(db)
            self._sync_rollup(db)

    @property
    def schema_version(self) -> int:
        sql = "PRAGMA user_version" if self.dialect.is_sqlite else "SELECT version FROM schema_version"
        return int(self.db.rows(sql)[0][0])

    def _query(self, sql: str, args: Iterable[Any] = ()) -> Sequence[Row[Any]]:
        """Run one read; a log that cannot be read (locked, gone, damaged) is a ``StorageError``."""
        return self.db.rows(sql, args)

    @staticmethod
    def _migrate_sqlite(db: Transaction) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for step in _statements(script):
                db.connection.exec_driver_sql(step)
            db.connection.exec_driver_sql(f"PRAGMA user_version = {number}")

    @staticmethod
    def _migrate_postgres(db: Transaction) -> None:
        exists = db.execute("SELECT to_regclass('schema_version') IS NOT NULL").scalar()
        version = int(db.execute("SELECT version FROM schema_version").scalar() or 0) if exists else 0
        for number, script in POSTGRES_MIGRATIONS:
            if number > version:
                _run_script(db, script)
                db.execute("UPDATE schema_version SET version = ?", (number,))

    def _sync_rollup(self, db: Transaction) -> None:
        """Re-create and refill ``job_days`` if its stored definition is not the current one (new log, a new rule or zone)."""
        named = not self.dialect.is_sqlite and zone_offsets(self.timezone) != (0, ())  # the SQL names the zone
        known = "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = ?)"
        if named and not db.execute(known, (self.timezone,)).scalar():
            # Its triggers would then refuse every new job: refuse to open instead, before anything runs.
            raise StorageError(f"the database server at {self.name} does not know the time zone {self.timezone!r} "
                               "(BUDGET_TIMEZONE); update its time-zone data or choose another zone")
        if self.dialect.is_sqlite:
            wanted = sqlite_rollup(self.timezone)
            marks = ",".join("?" * len(wanted))
            stored = dict(db.execute(f"SELECT name, sql FROM sqlite_master WHERE name IN ({marks})", tuple(wanted)).fetchall())
        else:
            wanted = postgres_rollup(self.timezone)
            stored = dict(db.execute("SELECT name, sql FROM rollup_definition").fetchall())
        if stored == wanted:
            return
        if stored:  # not a new log: say why its totals are counted again, once per process that finds them different
            logger.warning("The job log's per-day totals were kept under another definition (an older money rule, or "
                        "another BUDGET_TIMEZONE); refilling them with days in %s. Every app replica sharing this "
                        "database must set the same BUDGET_TIMEZONE.", self.timezone)
        if self.dialect.is_sqlite:
            for name in wanted:
                if name.startswith("job_days_"):
                    db.execute(f"DROP TRIGGER IF EXISTS {name}")
        else:
            for name in ("job_days_insert", "job_days_update", "job_days_delete"):
                db.execute(f"DROP TRIGGER IF EXISTS {name} ON jobs")
            db.execute("DROP FUNCTION IF EXISTS job_days_count()")
            db.execute("DELETE FROM rollup_definition")
            for name, sql in wanted.items():
                db.execute("INSERT INTO rollup_definition (name, sql) VALUES (?, ?)", (name, sql))
        db.execute("DROP TABLE IF EXISTS job_days")
        for sql in wanted.values():
            db.connection.exec_driver_sql(sql)
        db.execute(_rollup_fill(self.dialect, self.timezone))

    # -- writing --------------------------------------------------------------------------

    def add(
        self,
        *,
        idempotency_key: str,
        backend: str,
        model: str,
        category: str,
        prompt: str,
        params: dict[str, Any],
        reference_path: str | None = None,
        reference_url: str | None = None,
        page: str | None = None,
        session_id: str | None = None,
        submitted_at: str | None = None,
        key_owner: str = SHARED_OWNER,
        expected_credits: int | None = None,
        person: str | None = None,
        person_name: str | None = None,
        batch_id: str | None = None,
        parent_id: int | None = None,
        preset_id: int | None = None,
        grid_id: str | None = None,
    ) -> Job:
        """Write a ``submitting`` row; a key already logged returns that row unchanged."""
        with self.writing() as db:
            return self.add_in(
                db, idempotency_key=idempotency_key, backend=backend, model=model, category=category, prompt=prompt,
                params=params, reference_path=reference_path, reference_url=reference_url, page=page,
                session_id=session_id, submitted_at=submitted_at, key_owner=key_owner, expected_credits=expected_credits,
                person=person, person_name=person_name, batch_id=batch_id, parent_id=parent_id, preset_id=preset_id,
                grid_id=grid_id,
            )

    @staticmethod
    def add_in(db: Transaction, *, idempotency_key: str, params: dict[str, Any], submitted_at: str | None = None,
               **columns: Any) -> Job:
        """``add`` inside a write transaction the caller holds (a batch's rows are written all or none)."""
        now = submitted_at or utc_now()
        values = {"idempotency_key": idempotency_key, "submitted_at": now, "updated_at": now, "params": json.dumps(params),
                  "status": JobStatus.SUBMITTING.value, "sends": 0, **columns}
        unknown = set(values) - _INSERTABLE
        if unknown:
            raise ValueError(f"not a column: {sorted(unknown)}")
        # Looked up first (the caller's transaction is exclusive): on PostgreSQL a conflicting insert still fires the
        # change counter's BEFORE trigger, which would count a row that was never added.
        logged = db.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
        if logged is not None:
            return _job(logged)
        names = ", ".join(values)
        db.execute(f"INSERT INTO jobs ({names}) VALUES ({','.join('?' * len(values))}) ON CONFLICT (idempotency_key) DO NOTHING",
                   tuple(values.values()))
        return _job(db.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)).fetchone())

    @contextmanager
    def writing(self) -> Iterator[Transaction]:
        """One write transaction for a caller that writes several rows at once (all or none).

        Exclusive across every process sharing the log, so a check made inside it (the spend guards)
        still holds when its rows are written.
        """
        with self.db.transaction(exclusive=True) as db:
            yield db

    def update(self, job_id: int, *, unless_saved: bool = False, only_first_send: bool = False, **fields: Any) -> Job:
        """Change some columns of one row; ``updated_at`` is set here.

        ``unless_saved``: only while no result is recorded as saved (a failed download never overwrites a save that
        another follower finished meanwhile); ``only_first_send``: only while the row is ``submitting`` with one send
        counted (a refusal of the first send is final only if no other send began meanwhile, e.g. on another replica).
        The row as it stands is returned when a guard did not hold.
        """
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        fields["updated_at"] = utc_now()
        if fields.get("status") in TERMINAL and "finished_at" not in fields:
            fields["finished_at"] = fields["updated_at"]
        values = [json.dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        guard = " AND media_paths = '[]'" if unless_saved else ""
        if only_first_send:
            guard += f" AND sends = 1 AND status = {sql_status(JobStatus.SUBMITTING)}"
        rows = self.db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?{guard} RETURNING *", (*values, job_id))
        if rows:
            return _job(rows[0])
        current = self.get(job_id) if guard else None
        if current is None:
            raise KeyError(job_id)
        return current

    def count_send(self, job_id: int) -> Job | None:
        """Count one more create for a row still ``submitting``, just before it goes out (one statement, so two
        senders never both see a first send); None when the row is settled and must never be sent again."""
        rows = self.db.execute("UPDATE jobs SET sends = sends + 1 WHERE id = ? AND status = ? RETURNING *",
                               (job_id, JobStatus.SUBMITTING.value))
        return _job(rows[0]) if rows else None

    # -- the follower's leases ------------------------------------------------------------

    def claim(self, backend: str, holder: str, *, owners: Iterable[str] | None = None,
              now: float | None = None) -> list[tuple[int, str]]:
        """``(id, updated_at)`` of the unfinished jobs of ``backend`` that ``holder`` may poll, oldest first.

        On PostgreSQL several replicas follow one log: each takes the jobs nobody holds (or whose holder's
        lease ran out) and renews its own, ``FOR UPDATE SKIP LOCKED`` so two replicas never take the same
        row, and a lease lasts ``constants.LEASE_SECONDS`` (a replica that dies loses its jobs to another). With
        ``owners``, only jobs sent with those keys are taken (a personal key is held by the replica it was pasted
        on). Times are the database server's clock (``now`` in tests), so replicas' clocks never disagree. On SQLite
        the one process that holds the follower lock is the only claimant: every unfinished job is its own.
        """
        if self.dialect.is_sqlite:
            return self.pending_stamps(backend)
        keys = sorted(owners) if owners is not None else None
        by_owner = f" AND j.key_owner IN ({','.join('?' * len(keys))})" if keys else (" AND false" if keys == [] else "")
        with self.db.transaction() as db:
            now = float(db.execute(_SERVER_TIME).scalar()) if now is None else now
            db.execute(
                f"""INSERT INTO leases (job_id, holder, until)
                    SELECT id, '', 0 FROM jobs WHERE {CLAIMABLE_WHERE} AND backend = ? ORDER BY id ON CONFLICT DO NOTHING""",
                (backend,),
            )
            db.execute(
                f"""UPDATE leases SET holder = ?, until = ? WHERE job_id IN (
                        SELECT l.job_id FROM leases AS l JOIN jobs AS j ON j.id = l.job_id
                        WHERE j.backend = ? AND {CLAIMABLE_WHERE} AND (l.holder = ? OR l.until < ?){by_owner}
                        ORDER BY l.job_id FOR UPDATE OF l SKIP LOCKED)""",
                (holder, now + constants.LEASE_SECONDS, backend, holder, now, *(keys or ())),
            )
            # Rows locked in one order, skipping any another claim holds, so two claims never deadlock.
            db.execute(f"""DELETE FROM leases WHERE job_id IN (
                               SELECT l.job_id FROM leases AS l JOIN jobs AS j ON j.id = l.job_id
                               WHERE NOT {CLAIMABLE_WHERE} ORDER BY l.job_id FOR UPDATE OF l SKIP LOCKED)""")
        rows = self._query(
            f"""SELECT j.id, j.updated_at FROM jobs AS j JOIN leases AS l ON l.job_id = j.id
                WHERE l.holder = ? AND j.backend = ? AND j.{PENDING_WHERE} ORDER BY j.id""",
            (holder, backend),
        )
        return [(r[0], r[1]) for r in rows]

    def claimed_unsaved(self, backend: str, holder: str) -> list[Job]:
        """Succeeded jobs of ``backend`` whose result is not saved yet and whose lease ``holder`` has (after ``claim``):
        the ones it is saving, and any a replica that died was saving. Always none on SQLite (``unsaved`` at start)."""
        if self.dialect.is_sqlite:
            return []
        rows = self._query(
            f"""SELECT j.* FROM jobs AS j JOIN leases AS l ON l.job_id = j.id
                WHERE l.holder = ? AND j.backend = ? AND {UNSAVED_WHERE} ORDER BY j.id""",
            (holder, backend),
        )
        return [_job(r) for r in rows]

    def hold(self, job_ids: Iterable[int], holder: str) -> set[int]:
        """Take the leases of jobs this replica just logged, so its own follower gives them their first look;
        returns the ids it now holds (a job another live replica already took stays that replica's)."""
        ids = list(job_ids)
        if self.dialect.is_sqlite or not ids:
            return set(ids)
        held: set[int] = set()
        now = float(self._query(_SERVER_TIME)[0][0])
        for job_id in ids:
            held.update(r[0] for r in self.db.execute(
                """INSERT INTO leases (job_id, holder, until) VALUES (?, ?, ?)
                   ON CONFLICT (job_id) DO UPDATE SET holder = excluded.holder, until = excluded.until
                   WHERE leases.holder = excluded.holder OR leases.until < ? RETURNING job_id""",
                (job_id, holder, now + constants.LEASE_SECONDS, now),
            ))
        return held

    def ask_recheck(self) -> None:
        """Ask every replica's follower to look at all its unfinished jobs now (PostgreSQL; on SQLite the one
        follower is told directly)."""
        if not self.dialect.is_sqlite:
            self.db.execute("UPDATE rechecks SET asked = asked + 1")

    def rechecks_asked(self) -> int:
        """How many times a recheck was asked for, ever (0 on SQLite)."""
        return 0 if self.dialect.is_sqlite else int(self._query("SELECT asked FROM rechecks")[0][0])

    def stamp_webhooks_seen(self, at: float) -> None:
        """A signed webhook delivery was verified at ``at`` (seconds since the epoch); a later stamp is kept."""
        self.db.execute("UPDATE webhook_health SET seen_at = ? WHERE one = 1 AND seen_at < ?", (at, at))

    def webhooks_seen_at(self) -> float:
        """When any replica last verified a signed webhook delivery (0: never)."""
        return float(self._query("SELECT seen_at FROM webhook_health")[0][0])

    def release(self, holder: str) -> None:
        """Give up every lease ``holder`` has (a replica stopping cleanly), so others take its jobs at once."""
        if not self.dialect.is_sqlite:
            self.db.execute("UPDATE leases SET until = 0 WHERE holder = ?", (holder,))

    # -- reading --------------------------------------------------------------------------

    def get(self, job_id: int) -> Job | None:
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def by_key(self, idempotency_key: str) -> Job | None:
        rows = self._query("SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,))
        return _job(rows[0]) if rows else None

    def many(self, ids: Iterable[int]) -> list[Job]:
        ids = list(ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._query(f"SELECT * FROM jobs WHERE id IN ({marks}) ORDER BY id DESC", ids)
        return [_job(r) for r in rows]

    def where(self, condition: str, args: Iterable[Any] = (), *, limit: int = 500) -> list[Job]:
        """Jobs matching one SQL condition over ``jobs``' columns, newest first (for callers in ``rivya``)."""
        return [_job(r) for r in self._query(f"SELECT * FROM jobs WHERE {condition} ORDER BY id DESC LIMIT ?", (*args, limit))]

    def children_of(self, ids: Iterable[int], *, limit: int = 500) -> list[Job]:
        """Jobs made from any of ``ids`` (their ``parent_id``), newest first."""
        ids = list(ids)
        if not ids:
            return []
        return self.where(f"parent_id IN ({','.join('?' * len(ids))})", ids, limit=limit)

    def pending_ids(self, column: str, value: str) -> set[int]:
        """The unfinished jobs of one person or one browser session (``column``: see ``VIEWER_COLUMNS``)."""
        _viewer_column(column)
        sql = f"SELECT id FROM jobs {self.dialect.indexed_by('jobs_pending')} WHERE {PENDING_WHERE} AND {column} = ?"
        return {int(r[0]) for r in self._query(sql, (value,))}

    def viewer_news(self, column: str, value: str, *, after: int, also: Iterable[int] = ()) -> list[Brief]:
        """One viewer's jobs newer than id ``after``, and the jobs ``also`` (whoever's): by primary key only.

        The unary + (``unindexed``) keeps SQLite off the person index, which would walk all of a person's jobs.
        """
        _viewer_column(column)
        sql = f"SELECT {_BRIEF} FROM jobs WHERE id > ? AND {self.dialect.unindexed(column)} = ?"
        args: list[Any] = [after, value]
        also = sorted(also)
        if also:
            sql += f" UNION ALL SELECT {_BRIEF} FROM jobs WHERE id IN ({','.join('?' * len(also))})"
            args += also
        return [Brief(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in self._query(sql, args)]

    def pending(self, backend: str | None = None) -> list[Job]:
        """Jobs not yet finished (oldest first), optionally of one backend only: read from index ``jobs_pending``."""
        # INDEXED BY: without statistics SQLite would rather walk the whole table in id order; with it, a WHERE
        # that ever drifted from the index's would fail loudly ("no query solution") instead of scanning.
        sql, args = f"SELECT * FROM jobs {self.dialect.indexed_by('jobs_pending')} WHERE {PENDING_WHERE}", []
        if backend is not None:
            sql, args = sql + " AND backend = ?", [backend]
        return [_job(r) for r in self._query(sql + " ORDER BY id", args)]

    def pending_stamps(self, backend: str) -> list[tuple[int, str]]:
        """``(id, updated_at)`` of every unfinished job of a backend: the follower's cheap check for changes."""
        sql = (f"SELECT id, updated_at FROM jobs {self.dialect.indexed_by('jobs_pending')} "
               f"WHERE {PENDING_WHERE} AND backend = ? ORDER BY id")
        return [(r[0], r[1]) for r in self._query(sql, (backend,))]

    def unsaved(self, backend: str) -> list[Job]:
        """Succeeded jobs whose result is not saved here yet (e.g. the app stopped mid-download)."""
        rows = self._query(
            """SELECT * FROM jobs WHERE status = ? AND backend = ? AND media_error IS NULL
                   AND media_paths = '[]' AND result_urls != '[]' ORDER BY id""",
            (JobStatus.SUCCEEDED.value, backend),
        )
        return [_job(r) for r in rows]

    def recent(self, *, model: str | None = None, limit: int = 20) -> list[Job]:
        """The newest jobs, optionally of one model."""
        sql, args = "SELECT * FROM jobs", []
        if model:
            sql += " WHERE model = ?"
            args.append(model)
        rows = self._query(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [_job(r) for r in rows]

    def in_batches(self, batch_ids: Iterable[str], *, limit: int = 500) -> list[Job]:
        """Every take of the given batches, newest first (the job panel completes batches its recent window cut)."""
        batch_ids = list(batch_ids)
        if not batch_ids:
            return []
        marks = ",".join("?" * len(batch_ids))
        rows = self._query(f"SELECT * FROM jobs WHERE batch_id IN ({marks}) ORDER BY id DESC LIMIT ?", (*batch_ids, limit))
        return [_job(r) for r in rows]

    def signature(self) -> tuple[int, int, int]:
        """(rows, newest id, changes so far): differs whenever a row is added, updated or removed.

        Within one page run (``run_key``) the value read first is shared by every part of the run: it was read before
        anything the run shows, so what a part keeps under it is never older than it (a change during the run is seen
        by the next run). Outside a run (threads, scripts, tests) every call reads.
        """
        run = self.run_key()
        if run is not None:
            with self._runs_lock:
                kept = self._runs.get(run)
            if kept is not None:
                return kept
        return self.read_signature()

    def read_signature(self) -> tuple[int, int, int]:
        """``signature`` read from the one-row counter the log's triggers keep (so it costs the same at any size),
        whatever the run read before; the run's later ``signature`` calls share this newer value."""
        rows = self._query("SELECT rows, (SELECT COALESCE(MAX(id), 0) FROM jobs), changes FROM log_changes")
        value: tuple[int, int, int] = tuple(int(v) for v in rows[0])  # type: ignore[assignment]
        run = self.run_key()
        if run is not None:
            with self._runs_lock:
                self._runs[run] = value
        return value

    @property
    def unwritable(self) -> Unwritable | None:
        """Set while the SQLite log's last write was refused (read-only file, folder or disk; an I/O error): it can be
        read, so ``signature`` still answers, but nothing new can be logged, hence nothing sent."""
        return self.db.unwritable

    def check_writable(self) -> bool:
        """True unless ``unwritable`` is set and a fresh connection still cannot write (``Database.check_writable``:
        a no-op UPDATE of the change counter, rolled back; at most one every few seconds, only while set)."""
        return self.db.check_writable("UPDATE log_changes SET changes = changes WHERE one = 1")

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Several reads on one snapshot of the log (writers go on meanwhile)."""
        with self.db.transaction(snapshot=True):
            yield

    def read(self, sql: str, args: Iterable[Any] = ()) -> Sequence[Row[Any]]:
        """The rows of one read-only query over the log's tables (History's SQL lives in ``rivya.ledger``)."""
        return self._query(sql, args)

    def read_chunks(self, sql: str, args: Iterable[Any] = (), size: int = 2000) -> Iterator[Sequence[Row[Any]]]:
        """The rows of one read-only query, ``size`` at a time, so a caller never holds them all."""
        return self.db.chunks(sql, args, size)

    def committed_credits_since(self, since: str, *, person: str | None = None) -> int:
        """Credits charged or held by jobs submitted since ``since`` (ISO UTC), by ``rivya.money``'s rule.

        With ``person``, only that person's jobs (read through index ``jobs_person``).
        """
        sql, args = f"SELECT COALESCE(SUM({CHARGED_SQL}), 0) FROM jobs WHERE submitted_at >= ?", [since]
        if person is not None:
            sql, args = sql + " AND person = ?", [*args, person]
        return int(self._query(sql, args)[0][0])

    def claim_legacy_person(self, person: str, legacy_ids: Iterable[str]) -> int:
        """Move rows kept under a person's former ids (``rivya.people.Person.legacy_ids``) to ``person``; how many moved.

        Jobs (``jobs.person``), stars and the presets they made (``presets.created_by``) move in one transaction, so
        a person never sees half their history; run again, it finds nothing and writes nothing. A star the person
        already has under the new id wins over the same star under a former one. Only a cheap read is made when
        there is nothing to move (every new session of a signed-in person asks).
        """
        ids = sorted({i for i in legacy_ids if i and i != person})
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        find = f"""SELECT EXISTS (SELECT 1 FROM jobs WHERE person IN ({marks}))
                       OR EXISTS (SELECT 1 FROM stars WHERE person IN ({marks}))
                       OR EXISTS (SELECT 1 FROM presets WHERE created_by IN ({marks}))"""
        if not self._query(find, ids * 3)[0][0]:
            return 0
        with self.writing() as db:
            moved = db.execute(f"UPDATE jobs SET person = ? WHERE person IN ({marks})", (person, *ids)).rowcount
            db.execute(f"""INSERT INTO stars (job_id, person, starred_at)
                           SELECT job_id, ?, MIN(starred_at) FROM stars WHERE person IN ({marks}) GROUP BY job_id
                           ON CONFLICT (job_id, person) DO NOTHING""", (person, *ids))
            moved += db.execute(f"DELETE FROM stars WHERE person IN ({marks})", ids).rowcount
            moved += db.execute(f"UPDATE presets SET created_by = ? WHERE created_by IN ({marks})", (person, *ids)).rowcount
        return moved

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM jobs")[0][0])

    def frame(self, *, updated_since: str | None = None) -> pd.DataFrame:
        """Rows as a DataFrame, newest first, times parsed; only those updated since a time if given (pandas reads
        through the log's own engine)."""
        sql, args = f"SELECT *, {CHARGED_SQL} AS charged_credits FROM jobs", ()
        if updated_since:
            sql, args = sql + " WHERE updated_at >= ?", (updated_since,)
        with self.db.engine.connect() as connection:
            query, params = statement(sql + " ORDER BY id DESC", args, connection.dialect.paramstyle)
            df = pd.read_sql_query(query, connection, params=params)
        df = df.drop(columns=[c for c in df.columns if c not in _FRAME_COLUMNS])
        for column in ("submitted_at", "updated_at", "finished_at"):
            df[column] = pd.to_datetime(df[column], utc=True, format="ISO8601")
        for column in ("reserved_credits", "final_credits", "expected_credits"):
            df[column] = df[column].astype("Int64")
        df["charged_credits"] = df["charged_credits"].astype("int64")
        return df

    def close(self) -> None:
        self.db.close()


def _viewer_column(column: str) -> None:
    """Only a constant of ours names a column in SQL, never a caller's text."""
    if column not in VIEWER_COLUMNS:
        raise ValueError(f"cannot watch jobs by {column!r}")


def _statements(script: str) -> Iterator[str]:
    """The statements of a SQLite migration, each whole (a trigger's body holds semicolons of its own)."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""
    if pending.strip(" \n;"):
        yield pending


def _run_script(db: Transaction, script: str) -> None:
    """A PostgreSQL migration, sent whole (no parameters: psycopg sends several statements as one simple query).

    Sent on the driver's own cursor, so its errors (e.g. no right to create the ``citext`` extension) are turned
    into a ``StorageError`` here.
    """
    try:
        with db.connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(script)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"the job log's tables could not be created ({reason})") from None



_JOB_FIELDS = frozenset(Job.__dataclass_fields__)
_FRAME_COLUMNS = _JOB_FIELDS | {"charged_credits"}


def _job(row: Row[Any]) -> Job:
    data = {k: v for k, v in row._mapping.items() if k in _JOB_FIELDS}
    for column in _JSON_COLUMNS:
        data[column] = json.loads(data[column]) if data[column] else ([] if column != "params" else {})
    return Job(**data)
