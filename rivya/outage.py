"""Saying once that the job log cannot be reached, and once that it answers again.

The follower's pass, each job's step and each result download notice an outage; without one shared notice,
every job falling due while the database is down would log its own traceback.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("rivya.jobs")


class OutageNotice:
    """An outage of the job log as the follower's parts see it: logged when it begins and when it ends.

    Each part reports under its own name: the outage is over once every part that failed has reached the log
    again, so a log that reads but cannot write (passes succeed, steps fail) is not said over and over.
    """

    def __init__(self) -> None:
        self._failing: set[str] = set()
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        with self._lock:
            return bool(self._failing)

    def failed(self, part: str, exc: Exception) -> None:
        """``part`` could not reach the log; only the first failure of an outage is said (no traceback)."""
        with self._lock:
            first = not self._failing
            self._failing.add(part)
        if first:
            log.warning("the job log cannot be reached (%s); the follower keeps trying", exc)

    def answered(self, part: str) -> None:
        """``part`` reached the log; once no part is failing any more, the end of the outage is said."""
        with self._lock:
            if part not in self._failing:
                return
            self._failing.discard(part)
            over = not self._failing
        if over:
            log.warning("the job log answers again; the follower goes on with its jobs")
