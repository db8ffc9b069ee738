"""One way to reach the task log's database, whichever engine holds it: SQLAlchemy Core over a SQLite file
(the default) or a PostgreSQL server (``DATABASE_URL``), with the same transactions on both.

SQL is written once, with ``?`` placeholders, and handed to the driver in its own placeholder style, so it
reads the same for either engine. Transactions are explicit: connections run in autocommit, and
``transaction()`` sends its own ``BEGIN``, which lets a writer say what it needs:

- ``exclusive``: one writer at a time across every process sharing the database (SQLite ``BEGIN
  IMMEDIATE``; PostgreSQL a transaction-scoped advisory lock), so a check-then-write such as the
  spend guards holds across app replicas, not only across the threads of one;
- ``snapshot``: several reads that see one state of the log (SQLite deferred ``BEGIN``, which in WAL
  mode never blocks writers; PostgreSQL ``REPEATABLE READ READ ONLY``).

Errors reach callers as ``StorageError`` in plain words; the URL's password is never in them. A SQLite write that
its file, folder or disk refused (read-only, an I/O error) is also remembered as ``Database.unwritable``: reads still
work then, so nothing else would tell that nothing new can be written (``check_writable``).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Row, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .constants import DB_POOL_OVERFLOW, DB_POOL_SIZE, DB_POOL_TIMEOUT, SQLITE_BUSY_SECONDS, WRITE_PROBE_SECONDS
from .dialect import POSTGRESQL, SQLITE, Dialect
from .errors import StorageError

_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?")
# SQLite's primary result codes of a write that the file, its folder or its disk refused, while reads may go on:
# SQLITE_READONLY ("attempt to write a readonly database": a connection SQLite had to open read-only) and SQLITE_IOERR
# ("disk I/O error": e.g. a connection opened before the disk turned read-only, whose write the kernel refuses).
_SQLITE_UNWRITABLE = frozenset({8, 10})

log = logging.getLogger("rivya.database")

__all__ = ["Database", "IntegrityError", "Row", "Unwritable", "database_url"]


@dataclass(frozen=True)
class Unwritable:
    """The SQLite log's last write was refused by its file, folder or disk (read-only, or an I/O error).

    ``since``: seconds since the epoch when it was first seen; ``reason``: SQLite's own words (no path, no secret).
    """

    since: float
    reason: str


def database_url(value: str | Path) -> str:
    """A SQLAlchemy URL for ``value``: a database URL as given (``postgresql://`` means psycopg 3), or a file path."""
    if isinstance(value, Path) or "://" not in value:
        return f"sqlite:///{Path(value)}"
    url = make_url(value)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


@lru_cache(maxsize=1024)
def _for_driver(sql: str, paramstyle: str) -> tuple[str, int]:
    """``sql`` in the driver's own placeholder style, and how many placeholders it has.

    SQLite takes ``?`` as written; psycopg takes ``%s``, so there each ``?`` outside quotes becomes ``%s``
    and every literal ``%`` is doubled.
    """
    count = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()  # a quoted literal, left as it is
        count += 1
        return "?" if paramstyle == "qmark" else "%s"

    if paramstyle != "qmark":
        sql = sql.replace("%", "%%")
    return _PLACEHOLDER.sub(swap, sql), count


def statement(sql: str, args: Iterable[Any], paramstyle: str) -> tuple[str, tuple[Any, ...]]:
    """``sql`` with positional ``?`` arguments, as the driver of ``paramstyle`` takes it.

    Sent with ``exec_driver_sql``: SQLAlchemy's pool, transactions and errors, without compiling a
    clause per statement (this log runs many tiny queries, where that cost would dominate).
    """
    text_for_driver, count = _for_driver(sql, paramstyle)
    values = tuple(args)
    if len(values) != count:
        raise ValueError(f"{count} placeholders, {len(values)} arguments")
    return text_for_driver, values


class Transaction:
    """The connection of one open transaction: ``execute`` runs ``?``-style SQL inside it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def execute(self, sql: str, args: Iterable[Any] = ()) -> CursorResult[Any]:
        return self.connection.exec_driver_sql(*statement(sql, args, self.connection.dialect.paramstyle))


class Database:
    """The engine and transactions of one database; safe to share between threads."""

    def __init__(self, where: str | Path) -> None:
        url = make_url(database_url(where))
        backend = url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError("DATABASE_URL must be a postgresql:// URL, or be left out for the SQLite file")
        self.dialect: Dialect = SQLITE if backend == "sqlite" else POSTGRESQL
        self.path = Path(url.database) if self.dialect is SQLITE and url.database else None
        # Named in messages and logs: the file, or the server and database, never a password.
        self.name = self.path.name if self.path else f"{url.host or 'localhost'}/{url.database or ''}"
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url, isolation_level="AUTOCOMMIT", pool_size=DB_POOL_SIZE, max_overflow=-1, pool_reset_on_return=None,
                connect_args={"timeout": 30, "check_same_thread": False},
            )
            event.listen(self.engine, "connect", _sqlite_connected)
        else:
            # Pre-ping: a connection the server dropped (a restart, a failover) is replaced, not handed to a writer.
            # No server-side prepared statements: a transaction-mode pooler (PgBouncer before 1.21, several managed
            # services) may run each statement on another server connection, where the prepared one does not exist.
            self.engine = create_engine(
                url, isolation_level="AUTOCOMMIT", pool_size=DB_POOL_SIZE, max_overflow=DB_POOL_OVERFLOW,
                pool_timeout=DB_POOL_TIMEOUT, pool_pre_ping=True, pool_reset_on_return=None,
                connect_args={"prepare_threshold": None},
            )
        self._local = threading.local()
        self._file: tuple[int, int] | None = None  # (device, inode) of the SQLite file this engine opened
        # Set by a write SQLite refused as read-only or an I/O error; cleared by a write that changed rows or by a probe
        # that could write (``check_writable``). Reading it costs nothing, so a page may ask on every run.
        self.unwritable: Unwritable | None = None
        self._state_lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._probed_at = -WRITE_PROBE_SECONDS
        # Called after each committed write of this process (``rivya.live_feed.ChangeFeed.poke``: open pages hear of it
        # at once rather than at the feed's next look); each must be quick and never raise.
        self.written: list[Callable[[], None]] = []

    @property
    def is_sqlite(self) -> bool:
        return self.dialect is SQLITE

    # -- connections and transactions -------------------------------------------------------

    @contextmanager
    def _connection(self, doing: str) -> Iterator[Connection]:
        """This thread's open transaction's connection, or a pooled one for one statement."""
        with self._errors(doing):
            current: Connection | None = getattr(self._local, "connection", None)
            if current is not None:
                yield current
                return
            with self._connect() as connection:
                yield connection

    def _connect(self) -> Connection:
        """A pooled connection; a server that cannot be reached says so, whatever the caller meant to do."""
        with self._errors("reached"):
            self._check_file()
            connection = self.engine.connect()
        if self.path is not None and self._file is None:
            self._check_file()  # the first connection created the file: from now on it must stay
        return connection

    def _check_file(self) -> None:
        """A SQLite file removed after it was opened is a ``StorageError``, never a new empty log.

        SQLite would go on writing through the pool's open connections into the removed file (lost at exit), and a
        new connection would create an empty file, where the spend guards would find nothing spent today. A file put
        back under the same name is used again, through fresh connections only.
        """
        if self.path is None:
            return
        try:
            found = self.path.stat()
        except FileNotFoundError:
            if self._file is None:
                return  # not opened yet: the first connection creates it
            raise StorageError(f"the job log at {self.name} could not be reached (its file is missing)") from None
        identity = (found.st_dev, found.st_ino)
        if self._file is not None and identity != self._file:
            self.engine.dispose()  # connections to the removed file are never handed out again
        self._file = identity

    @contextmanager
    def transaction(self, *, exclusive: bool = False, snapshot: bool = False) -> Iterator[Transaction]:
        """One transaction on this thread: committed when the block ends, rolled back if it raises.

        Nested calls join the outer transaction (which must then be the stronger kind).
        """
        current: Connection | None = getattr(self._local, "connection", None)
        if current is not None:
            if not snapshot and getattr(self._local, "snapshot", False):
                raise RuntimeError("a write cannot join a read-only snapshot")
            yield Transaction(current)
            return
        with self._errors("read" if snapshot else "written"), self._connect() as connection:
            self._local.connection, self._local.snapshot = connection, snapshot
            watch = not snapshot and self.unwritable is not None
            before = _total_changes(connection) if watch else 0
            try:
                for sql in self.dialect.begin(exclusive=exclusive, snapshot=snapshot):
                    connection.exec_driver_sql(sql)
                try:
                    yield Transaction(connection)
                    connection.exec_driver_sql("COMMIT")
                    if watch and _total_changes(connection) > before:
                        self._writable_again()
                except BaseException:
                    _rollback(connection)
                    raise
            finally:
                self._local.connection = None
            if not snapshot:
                self._told_written()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """A database that cannot be reached or used (locked, gone, full, read-only) is a ``StorageError``."""
        try:
            yield
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
            if doing == "written":
                self._refused(exc, reason)
            raise StorageError(f"the job log at {self.name} could not be {doing} ({reason})") from None

    # -- a log that can be read but not written ---------------------------------------------

    def _refused(self, exc: SQLAlchemyError, reason: str) -> None:
        """Remember a write SQLite refused as read-only or an I/O error (kept from the first such failure on)."""
        code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
        if self.path is None or code is None or code & 0xFF not in _SQLITE_UNWRITABLE:
            return
        with self._state_lock:
            if self.unwritable is not None:
                return
            self.unwritable = Unwritable(since=time.time(), reason=reason)
        log.warning("the job log at %s cannot be written (%s); nothing new is sent until it can", self.name, reason)

    def _writable_again(self) -> None:
        with self._state_lock:
            if self.unwritable is None:
                return
            self.unwritable = None
        # A connection SQLite opened while it could not write the file stays read-only for good: none is used again.
        self.engine.dispose()
        log.warning("the job log at %s can be written again", self.name)

    def check_writable(self, probe: str) -> bool:
        """False while the last write was refused (``unwritable``) and a fresh connection still cannot run ``probe``.

        ``probe`` is a no-op UPDATE, run in a transaction that is rolled back: nothing is ever written. It runs at most
        once per ``WRITE_PROBE_SECONDS`` in this process (others get the last answer), and only while ``unwritable``
        is set, so a log that can be written costs one attribute read. A probe that can write clears the state.
        """
        if self.unwritable is None:
            return True
        if not self._probe_lock.acquire(blocking=False):
            return False  # another thread is asking right now
        try:
            if time.monotonic() - self._probed_at < WRITE_PROBE_SECONDS:
                return self.unwritable is None
            self._probed_at = time.monotonic()
            if self._can_write(probe):
                self._writable_again()
        finally:
            self._probe_lock.release()
        return self.unwritable is None

    def _can_write(self, probe: str) -> bool:
        """Whether a fresh connection can run ``probe`` (then rolled back).

        Checked on this machine (SQLite 3.40, WAL, a file and folder made immutable): a fresh connection to a file it
        cannot open for writing is opened read-only, and SQLite refuses the UPDATE (SQLITE_READONLY). ``BEGIN
        IMMEDIATE`` alone succeeds there (it only takes a lock), and on a connection opened before the disk turned
        read-only the same UPDATE rolled back succeeds too (WAL keeps it in memory until COMMIT): neither would tell.
        ``mode=rw`` never creates a file: a log removed meanwhile is not replaced by an empty one.
        """
        if self.path is None:
            return True
        try:
            connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True, timeout=1.0,
                                         isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return False
        try:
            connection.execute("BEGIN")
            connection.execute(probe)
            return True
        except sqlite3.Error as exc:
            log.debug("the job log at %s still cannot be written: %s", self.name, exc)
            return False
        finally:
            with suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            connection.close()

    # -- statements -------------------------------------------------------------------------

    def rows(self, sql: str, args: Iterable[Any] = ()) -> Sequence[Row[Any]]:
        """Every row of one query (read-only or not), in this thread's transaction if one is open."""
        with self._connection("read") as connection:
            return Transaction(connection).execute(sql, args).fetchall()

    def execute(self, sql: str, args: Iterable[Any] = ()) -> Sequence[Row[Any]]:
        """One statement that writes (in autocommit, or in this thread's transaction); its ``RETURNING`` rows."""
        with self._connection("written") as connection:
            watch = self.unwritable is not None and getattr(self._local, "connection", None) is None
            before = _total_changes(connection) if watch else 0
            result = Transaction(connection).execute(sql, args)
            rows = result.fetchall() if result.returns_rows else []
            if watch and _total_changes(connection) > before:
                self._writable_again()  # committed (autocommit) and changed rows: the log takes writes again
        if getattr(self._local, "connection", None) is None:
            self._told_written()  # autocommit: written now (inside a transaction, its commit tells)
        return rows

    def _told_written(self) -> None:
        for listener in self.written:
            listener()

    def chunks(self, sql: str, args: Iterable[Any] = (), size: int = 2000) -> Iterator[Sequence[Row[Any]]]:
        """The rows of one query, ``size`` at a time, so a caller never holds them all.

        On a connection of its own (a caller may run other statements between chunks); on PostgreSQL a
        server-side cursor inside a read-only snapshot, which is where PostgreSQL allows one.
        """
        with self._errors("read"), self._connect() as connection:
            if not self.is_sqlite:
                connection.exec_driver_sql(self.dialect.begin(exclusive=False, snapshot=True)[0])
            try:
                streaming = connection.execution_options(stream_results=True, max_row_buffer=size)
                result = streaming.exec_driver_sql(*statement(sql, args, connection.dialect.paramstyle))
                while chunk := result.fetchmany(size):
                    yield chunk
            finally:
                if not self.is_sqlite:
                    _rollback(connection)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_connected(dbapi_connection: Any, _record: Any) -> None:
    """Settings of every SQLite connection: wait for a busy file, and fsync each commit."""
    dbapi_connection.execute(f"PRAGMA busy_timeout={round(SQLITE_BUSY_SECONDS * 1000)}")
    # "Logged before sent" must survive a power cut, not only a crash: one fsync per commit.
    dbapi_connection.execute("PRAGMA synchronous=FULL")


def _total_changes(connection: Connection) -> int:
    """Rows this SQLite connection changed so far (only SQLite's log is ever ``unwritable``)."""
    return int(connection.connection.dbapi_connection.total_changes)  # type: ignore[union-attr]


def _rollback(connection: Connection) -> None:
    try:
        connection.exec_driver_sql("ROLLBACK")
    except SQLAlchemyError:
        connection.invalidate()  # the connection itself failed: never hand it out again
