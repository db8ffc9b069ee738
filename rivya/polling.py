"""When to look at a task again, and how many status requests a server may spend.

The reference (section 4) asks for a first poll 2-3 s after submit, then every 5-10 s,
more slowly for long video jobs, and no tight loops. ``wait()`` and the app's background
follower both use this one schedule.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from . import constants


@dataclass(frozen=True)
class PollSchedule:
    """Delays between status requests: a first look, then intervals growing to a cap."""

    first_delay: float = constants.FIRST_POLL_DELAY
    image_interval: float = constants.POLL_INTERVAL_IMAGE
    video_interval: float = constants.POLL_INTERVAL_VIDEO
    image_max: float = constants.POLL_INTERVAL_MAX_IMAGE
    video_max: float = constants.POLL_INTERVAL_MAX_VIDEO
    backoff: float = constants.POLL_BACKOFF
    first_spread: float = constants.FIRST_POLL_SPREAD

    def delay(self, polls_done: int, *, category: str | None = None) -> float:
        """Seconds to wait before poll number ``polls_done + 1`` (the first: the middle of its window)."""
        if polls_done <= 0:
            return self.first_delay
        video = category == "video"
        base = self.video_interval if video else self.image_interval
        cap = self.video_max if video else self.image_max
        return min(base * self.backoff ** (polls_done - 1), cap)

    def first_look(self, slot: int) -> float:
        """Seconds from submit to the first look of the job numbered ``slot``, inside the 2-3 s window.

        Consecutive numbers land far apart (golden-ratio steps), so jobs submitted together get
        first looks spread evenly over the whole window instead of all at its middle.
        """
        point = (slot * 0.6180339887498949) % 1.0
        return self.first_delay * (1.0 + self.first_spread * (2.0 * point - 1.0))


class RequestBudget:
    """A token bucket shared by every caller of one server process: the follower and the pages.

    Adaptive: it starts generous (``rate``), halves on every 429 and pauses for its
    ``Retry-After``, then recovers slowly (``step`` requests a second more after each quiet
    ``recover_after`` seconds) back up to ``rate``. Tests and scripts may fix it with
    ``step=0``.
    """

    def __init__(
        self,
        rate: float = constants.REQUEST_RATE,
        burst: int = constants.REQUEST_BURST,
        *,
        floor: float = constants.REQUEST_RATE_FLOOR,
        step: float = constants.REQUEST_RATE_STEP,
        recover_after: float = constants.REQUEST_RATE_RECOVER_SECONDS,
    ) -> None:
        self.ceiling = rate
        self.rate = rate
        self.burst = burst
        self.floor = min(floor, rate)
        self.step = step
        self.recover_after = recover_after
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._calm_since = self._stamp
        self._lock = threading.Lock()

    def pause(self, seconds: float) -> None:
        """Spend nothing for ``seconds`` (a 429's Retry-After) and halve the rate."""
        with self._lock:
            now = time.monotonic()
            self._paused_until = max(self._paused_until, now + seconds)
            self.rate = max(self.floor, self.rate / 2)
            self._calm_since = now
            self._tokens = min(self._tokens, 1.0)

    def try_acquire(self) -> bool:
        """Take one request's token if one is free now."""
        return self.acquire_up_to(1) == 1

    def acquire_up_to(self, wanted: int) -> int:
        """Take as many of ``wanted`` tokens as are free now; returns how many (0 while paused)."""
        with self._lock:
            now = time.monotonic()
            if now < self._paused_until:
                return 0
            if self.rate < self.ceiling and now - self._calm_since >= self.recover_after:
                self.rate = min(self.ceiling, self.rate + self.step)
                self._calm_since = now
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            taken = max(0, min(wanted, int(self._tokens)))
            self._tokens -= taken
            return taken
