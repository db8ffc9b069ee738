"""The task log: one SQLite row per job, the single record of everything submitted.

A row is written before the create request is sent, so a job survives a crash between
sending and the reply. WAL mode and one connection per thread let the follower and many
browser sessions read and write at once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import StorageError
from .money import CHARGED_SQL, RETURNED_SQL, charged_credits, returned_credits
from .status import TERMINAL, JobStatus

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
)
SHARED_OWNER = "shared"

# The follower's question, written exactly as index ``jobs_pending``'s WHERE (v4) so SQLite can use that index;
# tests check it names every TERMINAL status (a new one needs a migration that re-creates the index).
PENDING_WHERE = "status NOT IN ('succeeded','failed','rejected','unconfirmed')"
# Milliseconds from submit to result, exactly as index ``jobs_result_ms`` (v4) is built: exact medians by offset.
RESULT_MS_SQL = "CAST(ROUND((julianday(finished_at) - julianday(submitted_at)) * 86400000) AS INTEGER)"
RESULT_MS_WHERE = "status = 'succeeded' AND finished_at IS NOT NULL"
# The UTC day of a submit time (the log writes UTC ISO stamps; date() also normalises any other offset).
DAY_SQL = "COALESCE(date(submitted_at), substr(submitted_at, 1, 10))"

_ROLLUP_COLUMNS = ("submitted_at", "finished_at", "model", "status", "reserved_credits", "final_credits", "expected_credits")


def _rollup_row(row: str) -> str:
    """One job's contribution to ``job_days``; ``row`` is ``new`` or ``old`` inside a trigger."""
    values = ", ".join(f"{row}.{c} AS {c}" for c in _ROLLUP_COLUMNS)
    return (f"SELECT {DAY_SQL} AS day, model, status, {CHARGED_SQL} AS charged, {RETURNED_SQL} AS returned, "
            f"({RESULT_MS_WHERE}) AS timed FROM (SELECT {values})")


def _rollup_add(row: str, sign: str) -> str:
    return (f"INSERT INTO job_days (day, model, status, jobs, charged, returned, timed) "
            f"SELECT day, model, status, {sign}1, {sign}charged, {sign}returned, {sign}timed "
            f"FROM ({_rollup_row(row)}) WHERE true "
            "ON CONFLICT (day, model, status) DO UPDATE SET jobs = jobs + excluded.jobs, "
            "charged = charged + excluded.charged, returned = returned + excluded.returned, timed = timed + excluded.timed;")


def _rollup_drop_empty(row: str) -> str:
    return (f"DELETE FROM job_days WHERE jobs = 0 AND (day, model, status) = "
            f"(SELECT day, model, status FROM ({_rollup_row(row)}));")


_ROLLUP_CHANGED = " OR ".join(f"old.{c} IS NOT new.{c}" for c in _ROLLUP_COLUMNS)
# Jobs, credits charged and returned and timed results per (UTC day, model, status), kept by triggers: every
# figure, chart and filter count of History reads this small table, never the whole log. It embeds
# ``rivya.money``'s rule, so it is not a migration: opening a log re-creates and refills it whenever this
# definition differs from the stored one (e.g. after the money rule changed).
ROLLUP: dict[str, str] = {
    "job_days": """CREATE TABLE job_days (
    day TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL, jobs INTEGER NOT NULL, charged INTEGER NOT NULL,
    returned INTEGER NOT NULL, timed INTEGER NOT NULL, PRIMARY KEY (day, model, status)
) WITHOUT ROWID""",
    "job_days_insert": f"CREATE TRIGGER job_days_insert AFTER INSERT ON jobs BEGIN\n{_rollup_add('new', '')}\nEND",
    "job_days_update": (
        f"CREATE TRIGGER job_days_update AFTER UPDATE OF {', '.join(_ROLLUP_COLUMNS)} ON jobs WHEN {_ROLLUP_CHANGED} BEGIN\n"
        f"{_rollup_add('old', '-')}\n{_rollup_add('new', '')}\n{_rollup_drop_empty('old')}\nEND"
    ),
    "job_days_delete": f"CREATE TRIGGER job_days_delete AFTER DELETE ON jobs BEGIN\n{_rollup_add('old', '-')}\n"
                       f"{_rollup_drop_empty('old')}\nEND",
}
_ROLLUP_FILL = f"""INSERT INTO job_days (day, model, status, jobs, charged, returned, timed)
    SELECT {DAY_SQL}, model, status, COUNT(*), SUM({CHARGED_SQL}), SUM({RETURNED_SQL}), SUM({RESULT_MS_WHERE})
    FROM jobs GROUP BY 1, 2, 3"""

_JSON_COLUMNS = ("params", "result_urls", "media_paths")
_INSERTABLE = frozenset(
    {
        "idempotency_key", "backend", "submitted_at", "updated_at", "model", "category", "prompt", "params",
        "reference_path", "reference_url", "status", "page", "session_id", "key_owner", "expected_credits", "person",
        "person_name", "batch_id", "parent_id", "preset_id",
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
    """The SQLite job log at ``path``; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # WAL must be switched on outside a transaction, where SQLite would ignore it.
        self._db().execute("PRAGMA journal_mode=WAL")
        with self._connect() as db:
            self._migrate(db)
            self._sync_rollup(db)

    @property
    def schema_version(self) -> int:
        return self._db().execute("PRAGMA user_version").fetchone()[0]

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=30000")
            # "Logged before sent" must survive a power cut, not only a crash: one fsync per commit.
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run one read; a log that cannot be read (locked, gone, damaged) is a ``StorageError``."""
        try:
            return self._db().execute(sql, tuple(args)).fetchall()
        except sqlite3.OperationalError as exc:
            raise StorageError(f"the job log at {self.path.name} could not be read ({exc})") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE so concurrent writers queue, not fail.

        A disk that is full, read-only or gone surfaces as ``StorageError`` in plain words.
        """
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StorageError(f"the job log at {self.path.name} could not be written ({exc})") from None

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")

    @staticmethod
    def _sync_rollup(db: sqlite3.Connection) -> None:
        """Re-create and refill ``job_days`` if its stored definition is not ``ROLLUP`` (new file, or a new rule)."""
        marks = ",".join("?" * len(ROLLUP))
        stored = dict(db.execute(f"SELECT name, sql FROM sqlite_master WHERE name IN ({marks})", tuple(ROLLUP)).fetchall())
        if stored == ROLLUP:
            return
        for name in ROLLUP:
            if name.startswith("job_days_"):
                db.execute(f"DROP TRIGGER IF EXISTS {name}")
        db.execute("DROP TABLE IF EXISTS job_days")
        for sql in ROLLUP.values():
            db.execute(sql)
        db.execute(_ROLLUP_FILL)

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
    ) -> Job:
        """Write a ``submitting`` row; a key already logged returns that row unchanged."""
        with self._connect() as db:
            return self.add_in(
                db, idempotency_key=idempotency_key, backend=backend, model=model, category=category, prompt=prompt,
                params=params, reference_path=reference_path, reference_url=reference_url, page=page,
                session_id=session_id, submitted_at=submitted_at, key_owner=key_owner, expected_credits=expected_credits,
                person=person, person_name=person_name, batch_id=batch_id, parent_id=parent_id, preset_id=preset_id,
            )

    @staticmethod
    def add_in(db: sqlite3.Connection, *, idempotency_key: str, params: dict[str, Any], submitted_at: str | None = None,
               **columns: Any) -> Job:
        """``add`` inside a write transaction the caller holds (a batch's rows are written all or none)."""
        now = submitted_at or utc_now()
        values = {"idempotency_key": idempotency_key, "submitted_at": now, "updated_at": now, "params": json.dumps(params),
                  "status": JobStatus.SUBMITTING.value, **columns}
        unknown = set(values) - _INSERTABLE
        if unknown:
            raise ValueError(f"not a column: {sorted(unknown)}")
        names = ", ".join(values)
        db.execute(f"INSERT INTO jobs ({names}) VALUES ({','.join('?' * len(values))}) ON CONFLICT (idempotency_key) DO NOTHING",
                   tuple(values.values()))
        return _job(db.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)).fetchone())

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction for a caller that writes several rows at once (all or none)."""
        with self._connect() as db:
            yield db

    def update(self, job_id: int, **fields: Any) -> Job:
        """Change some columns of one row; ``updated_at`` is set here."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        fields["updated_at"] = utc_now()
        if fields.get("status") in TERMINAL and "finished_at" not in fields:
            fields["finished_at"] = fields["updated_at"]
        values = [json.dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._connect() as db:
            row = db.execute(f"UPDATE jobs SET {assignments} WHERE id = ? RETURNING *", (*values, job_id)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return _job(row)

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

    def pending(self, backend: str | None = None) -> list[Job]:
        """Jobs not yet finished (oldest first), optionally of one backend only: read from index ``jobs_pending``."""
        # INDEXED BY: without statistics SQLite would rather walk the whole table in id order; with it, a WHERE
        # that ever drifted from the index's would fail loudly ("no query solution") instead of scanning.
        sql, args = f"SELECT * FROM jobs INDEXED BY jobs_pending WHERE {PENDING_WHERE}", []
        if backend is not None:
            sql, args = sql + " AND backend = ?", [backend]
        return [_job(r) for r in self._query(sql + " ORDER BY id", args)]

    def pending_stamps(self, backend: str) -> list[tuple[int, str]]:
        """``(id, updated_at)`` of every unfinished job of a backend: the follower's cheap check for changes."""
        sql = f"SELECT id, updated_at FROM jobs INDEXED BY jobs_pending WHERE {PENDING_WHERE} AND backend = ? ORDER BY id"
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

    def signature(self) -> tuple[int, int, int]:
        """(rows, newest id, changes so far): differs whenever a row is added, updated or removed.

        Read from the one-row counter the log's triggers keep, so it costs the same at any size.
        """
        rows = self._query("SELECT rows, (SELECT COALESCE(MAX(id), 0) FROM jobs), changes FROM log_changes")
        return tuple(rows[0])

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Several reads on one snapshot of the log (a deferred transaction: in WAL mode writers go on)."""
        db = self._db()
        if db.in_transaction:  # already inside one
            yield
            return
        db.execute("BEGIN")
        try:
            yield
        finally:
            if db.in_transaction:
                db.execute("COMMIT")

    def read(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """The rows of one read-only query over the log's tables (History's SQL lives in ``rivya.ledger``)."""
        return self._query(sql, args)

    def read_chunks(self, sql: str, args: Iterable[Any] = (), size: int = 2000) -> Iterator[list[sqlite3.Row]]:
        """The rows of one read-only query, ``size`` at a time, so a caller never holds them all."""
        try:
            cursor = self._db().execute(sql, tuple(args))
            while chunk := cursor.fetchmany(size):
                yield chunk
        except sqlite3.OperationalError as exc:
            raise StorageError(f"the job log at {self.path.name} could not be read ({exc})") from None

    def committed_credits_since(self, since: str, *, person: str | None = None) -> int:
        """Credits charged or held by jobs submitted since ``since`` (ISO UTC), by ``rivya.money``'s rule.

        With ``person``, only that person's jobs (read through index ``jobs_person``).
        """
        sql, args = f"SELECT COALESCE(SUM({CHARGED_SQL}), 0) FROM jobs WHERE submitted_at >= ?", [since]
        if person is not None:
            sql, args = sql + " AND person = ?", [*args, person]
        return int(self._query(sql, args)[0][0])

    def count(self) -> int:
        return self._db().execute("SELECT COUNT(*) FROM jobs").fetchone()[0]

    def frame(self, *, updated_since: str | None = None) -> pd.DataFrame:
        """Rows as a DataFrame, newest first, times parsed; only those updated since a time if given."""
        sql, args = f"SELECT *, {CHARGED_SQL} AS charged_credits FROM jobs", ()
        if updated_since:
            sql, args = sql + " WHERE updated_at >= ?", (updated_since,)
        cursor = self._db().execute(sql + " ORDER BY id DESC", args)
        # from_records on raw tuples is several times faster than read_sql_query on big logs.
        df = pd.DataFrame.from_records(cursor.fetchall(), columns=[c[0] for c in cursor.description])
        for column in ("submitted_at", "updated_at", "finished_at"):
            df[column] = pd.to_datetime(df[column], utc=True, format="ISO8601")
        for column in ("reserved_credits", "final_credits", "expected_credits"):
            df[column] = df[column].astype("Int64")
        df["charged_credits"] = df["charged_credits"].astype("int64")
        return df

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration, each whole (a trigger's body holds semicolons of its own)."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""
    if pending.strip(" \n;"):
        yield pending


def _job(row: sqlite3.Row) -> Job:
    data = dict(row)
    for column in _JSON_COLUMNS:
        data[column] = json.loads(data[column]) if data[column] else ([] if column != "params" else {})
    return Job(**data)
