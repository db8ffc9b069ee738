"""The optional shared password: constant-time comparison and a growing delay after misses."""

from __future__ import annotations

import hmac
import threading
import time

MAX_DELAY = 30.0
FORGET_AFTER = 15 * 60.0


class PasswordGate:
    """Checks the app's shared password. One per server process, so new tabs cannot reset the delay."""

    def __init__(self, password: str) -> None:
        self._password = password.encode()
        self._failures = 0
        self._last_failure = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "PasswordGate(<password hidden>)"

    def delay(self) -> float:
        """Seconds the next attempt waits: 0, then 1, 2, 4 … up to 30 after consecutive misses."""
        with self._lock:
            if time.monotonic() - self._last_failure > FORGET_AFTER:
                self._failures = 0
            return 0.0 if self._failures == 0 else min(MAX_DELAY, 2.0 ** (self._failures - 1))

    def check(self, attempt: str, *, sleep: bool = True) -> bool:
        """True when ``attempt`` is the password; waits the current delay first."""
        wait = self.delay()
        if sleep and wait:
            time.sleep(wait)
        ok = hmac.compare_digest(attempt.encode(), self._password)
        if not ok:
            with self._lock:
                self._failures += 1
                self._last_failure = time.monotonic()
        return ok
