"""The log's change counter as a push feed for open pages: one reader per process, any number of waiting tabs.

Every live part of every open tab used to look at the counter on a timer of its own (a script run every 2-4 s, even
when nothing changed). The feed reads the counter once for the whole process, every ``LIVE_FEED_SECONDS`` while
anyone waits (not at all otherwise), and at once when this process writes the log (``poke``); a waiter is answered as
soon as the counter differs from the value it last saw. Behind several replicas each reads the shared log, so a tab on
any replica sees every replica's writes.

``LivePasses`` says who may wait: a random pass per browser session granted access, dropped when the session ends.
A waiter learns only the counter (a number that moves), never a job's data.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from . import constants
from .errors import StorageError

log = logging.getLogger("rivya.live")


@dataclass(eq=False)
class _Waiter:
    """One wait: answered (``deliver``) with the first counter value that differs from ``since``, or None when the
    log cannot be read (the page then wakes its parts on their own timers, and they show the outage)."""

    since: int
    deliver: Callable[[int | None], None]


class ChangeFeed:
    """One background reader of ``read()`` (the log's change counter) shared by every waiter of the process."""

    def __init__(self, read: Callable[[], int], *, interval: float = constants.LIVE_FEED_SECONDS) -> None:
        self._read = read
        self.interval = interval
        self._lock = threading.Lock()
        self._waiters: set[_Waiter] = set()
        self._value: int | None = None
        self._wake = threading.Event()
        self._running = False
        self._closed = False
        self.reads = 0  # counter reads made, for tests and benchmarks

    def current(self) -> int:
        """The counter now (one read; ``StorageError`` while the log cannot be read); waiters it moved are answered."""
        value = int(self._read())
        with self._lock:
            self.reads += 1
            self._value = value
            answered = [w for w in self._waiters if w.since != value]
            self._waiters.difference_update(answered)
        for waiter in answered:
            waiter.deliver(value)
        return value

    def poke(self) -> None:
        """This process wrote the log: read the counter now rather than at the next interval."""
        self._wake.set()

    async def changed(self, since: int, timeout: float) -> int | None:
        """The counter once it differs from ``since``, ``since`` after ``timeout`` seconds without a change, or None
        as soon as the log cannot be read."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()

        def deliver(value: int | None) -> None:
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(value))

        waiter = _Waiter(since, deliver)
        self._add(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return since
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def wait(self, since: int, timeout: float) -> int | None:
        """``changed`` for a thread (tests and scripts)."""
        done = threading.Event()
        got: list[int | None] = []
        waiter = _Waiter(since, lambda value: (got.append(value), done.set()))
        self._add(waiter)
        done.wait(timeout)
        with self._lock:
            self._waiters.discard(waiter)
        return got[0] if got else since

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)

    def _add(self, waiter: _Waiter) -> None:
        """Register a waiter; the reader starts if it was idle (it stops again once no one waits)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the change feed is closed")
            self._waiters.add(waiter)
            start = not self._running
            self._running = True
        self._wake.set()  # a new waiter's counter may be old: read now
        if start:
            threading.Thread(target=self._run, name="rivya-live-feed", daemon=True).start()

    def _run(self) -> None:
        """Read the counter every ``interval`` (or at once when poked) while anyone waits."""
        while True:
            with self._lock:
                if not self._waiters or self._closed:
                    self._running = False
                    return
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.current()
            except StorageError as exc:  # every waiter is told at once: its page's parts then find the outage
                log.warning("the live feed could not read the log's change counter (%s)", type(exc).__name__)
                with self._lock:
                    failed, self._waiters = self._waiters, set()
                for waiter in failed:
                    waiter.deliver(None)
                threading.Event().wait(self.interval)  # no busy loop while new waiters keep coming

    def close(self) -> None:
        """Stop the reader; waiters are left to time out."""
        with self._lock:
            self._closed = True
        self._wake.set()


def _digest(token: str) -> str:
    """What is kept of a pass: its hash (looked up by hash, so no comparison of the pass itself can leak its bytes)."""
    return hashlib.sha256(token.encode()).hexdigest()


class LivePasses:
    """The passes of browser sessions that may wait on the feed: one random pass per session granted access.

    A pass is handed to its session's page only (in the page's own script), kept here as a hash, and dropped when
    the session signs out or ends; the route also asks the server whether the session still exists on every use,
    so a pass of a session the server no longer holds is refused even if its drop was missed.
    """

    def __init__(self) -> None:
        self._by_hash: dict[str, str] = {}  # hash of pass -> session id
        self._by_session: dict[str, str] = {}  # session id -> hash of pass
        self._open: dict[str, int] = {}  # hash of pass -> waits open now
        self._lock = threading.Lock()

    def grant(self, session_id: str) -> str:
        """A new pass for the session (replacing any it had); the session keeps it, this keeps its hash only."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._drop(session_id)
            while len(self._by_session) >= constants.LIVE_MAX_PASSES:  # bounded: the oldest pass goes (its tab falls
                self._drop(next(iter(self._by_session)))  # back to its timers)
            self._by_session[session_id] = digest = _digest(token)
            self._by_hash[digest] = session_id
        return token

    def revoke(self, session_id: str) -> None:
        with self._lock:
            self._drop(session_id)

    def _drop(self, session_id: str) -> None:
        digest = self._by_session.pop(session_id, None)
        if digest is not None:
            self._by_hash.pop(digest, None)

    def session_of(self, token: str | None) -> str | None:
        """The session a pass was granted to; None for anything else."""
        if not token or len(token) > constants.LIVE_MAX_PASS_CHARS:
            return None
        with self._lock:
            return self._by_hash.get(_digest(token))

    def open_wait(self, token: str) -> bool:
        """Count a wait on ``token``'s pass; False when it already holds ``LIVE_WAITS_PER_PASS`` (a tab needs one)."""
        digest = _digest(token)
        with self._lock:
            if self._open.get(digest, 0) >= constants.LIVE_WAITS_PER_PASS:
                return False
            self._open[digest] = self._open.get(digest, 0) + 1
            return True

    def close_wait(self, token: str) -> None:
        digest = _digest(token)
        with self._lock:
            left = self._open.get(digest, 1) - 1
            if left > 0:
                self._open[digest] = left
            else:
                self._open.pop(digest, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_session)
