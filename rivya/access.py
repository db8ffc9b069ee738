"""The optional shared password: constant-time comparison and a growing delay after misses."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable

MAX_DELAY = 30.0
FORGET_AFTER = 15 * 60.0


class PasswordGate:
    """Checks the app's shared password. One per server process, so new tabs cannot reset the delay.

    Attempts are taken one at a time: a lock is held across the wait and the comparison, so
    guesses sent in parallel queue behind each other and each waits the delay its turn earns
    (0, 1, 2, 4 … s), instead of all reading "no misses yet" and comparing at once.
    """

    def __init__(
        self, password: str, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._password = password.encode()
        self._failures = 0
        self._last_failure = 0.0
        self._sleep = sleep
        self._clock = clock
        self._state = threading.Lock()
        self._turn = threading.Lock()

    def __repr__(self) -> str:
        return "PasswordGate(<password hidden>)"

    def delay(self) -> float:
        """Seconds the next attempt waits: 0, then 1, 2, 4 … up to 30 after consecutive misses."""
        with self._state:
            if self._clock() - self._last_failure > FORGET_AFTER:
                self._failures = 0
            return 0.0 if self._failures == 0 else min(MAX_DELAY, 2.0 ** (self._failures - 1))

    def check(self, attempt: str, *, sleep: bool = True) -> bool:
        """True when ``attempt`` is the password; waits its turn, then the current delay, first."""
        with self._turn:
            wait = self.delay()
            if sleep and wait:
                self._sleep(wait)
            ok = hmac.compare_digest(attempt.encode(), self._password)
            if not ok:
                with self._state:
                    self._failures += 1
                    self._last_failure = self._clock()
        return ok
