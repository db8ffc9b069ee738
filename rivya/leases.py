"""The unfinished jobs this follower holds: on a PostgreSQL log several replicas follow, and a lease gives each job
to one of them (``TaskLog.claim``); on SQLite one process follows them all.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from . import constants
from .tasklog import Job, TaskLog


class HeldJobs:
    """Which jobs this follower holds, renewed every ``LEASE_RENEW`` seconds, and their rows as last read.

    Each renewal also finds results held here but not saved (``on_unsaved``) and "Check now" presses made on any
    replica since the last one (``on_recheck`` gets the jobs held).
    """

    def __init__(
        self,
        log: TaskLog,
        backend: str,
        *,
        owners: Callable[[], list[str]],
        on_unsaved: Callable[[Job], None],
        on_recheck: Callable[[Sequence[int]], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.backend = backend
        self.owners = owners
        self.on_unsaved = on_unsaved
        self.on_recheck = on_recheck
        self.monotonic = monotonic
        # This follower's name in the log's leases.
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._held: set[int] = set()
        self._claimed_at = -math.inf
        self._rechecks_seen: int | None = None  # "Check now" presses on any replica, as last read
        # Seconds between reads of that counter besides each renewal (None: at renewals only). Set while webhooks are
        # on, so an event another replica received reaches this holder within about this (``rivya.webhooks``).
        self.recheck_read: float | None = None
        self._recheck_read_at = -math.inf
        # Unfinished jobs as last read; each pass re-reads only rows whose ``updated_at`` moved.
        self._pending: dict[int, Job] = {}
        self._lock = threading.Lock()

    def hold(self, job_ids: Sequence[int]) -> None:
        """Follow these jobs too: a page of this process logged them, and their leases, just now."""
        with self._lock:
            self._held.update(job_ids)

    def holds(self, job_id: int) -> bool:
        """Whether this follower looks after the job (on SQLite: every job of the log)."""
        with self._lock:
            return self.log.dialect.is_sqlite or job_id in self._held

    def pending(self) -> list[Job]:
        """The unfinished jobs this follower holds, oldest first, reading whole rows only for those that changed.

        Leases are renewed (and free jobs taken) every ``constants.LEASE_RENEW`` seconds; between renewals the jobs held
        are the ones followed, plus any this process submitted meanwhile.
        """
        now = self.monotonic()
        if self.log.dialect.is_sqlite or now - self._claimed_at >= constants.LEASE_RENEW:
            stamps = self._renew(now)
        else:
            with self._lock:
                held = set(self._held)
            stamps = [(i, stamp) for i, stamp in self.log.pending_stamps(self.backend) if i in held]
            if self.recheck_read is not None and now - self._recheck_read_at >= self.recheck_read:
                self._recheck_read_at = now
                self._read_rechecks(stamps)
        changed = [i for i, stamp in stamps if (known := self._pending.get(i)) is None or known.updated_at != stamp]
        fresh = {job.id: job for job in self.log.many(changed) if not job.is_done} if changed else {}
        stale = set(changed)
        kept = {i: job for i, job in self._pending.items() if i not in stale}
        self._pending = {i: fresh.get(i) or kept[i] for i, _ in stamps if i in fresh or i in kept}
        return list(self._pending.values())

    def _renew(self, now: float) -> list[tuple[int, str]]:
        """Claim: renew this follower's leases and take free jobs; returns the (id, updated_at) of the jobs held."""
        with self._lock:
            before = set(self._held)
        stamps = self.log.claim(self.backend, self.holder, owners=self.owners())
        self._claimed_at = now
        with self._lock:
            # A job a page submitted while the claim ran is held too: its ``hold`` may have come after the claim read.
            self._held = {i for i, _ in stamps} | (self._held - before)
        # Results this replica holds but has not saved: its own downloads (the saver skips those), and any that
        # a replica which died mid-download was saving; nothing else would ever save those (SQLite: none).
        for job in self.log.claimed_unsaved(self.backend, self.holder):
            self.on_unsaved(job)
        self._read_rechecks(stamps)
        return stamps

    def _read_rechecks(self, stamps: list[tuple[int, str]]) -> None:
        """"Check now" pressed (or a webhook event received) on some replica since the last read: look at ours now."""
        asked = self.log.rechecks_asked()
        if self._rechecks_seen is not None and asked != self._rechecks_seen:
            self.on_recheck([i for i, _ in stamps])
        self._rechecks_seen = asked
