"""How long to wait before trying again: one exponential back-off for every retry loop.

The client's own retries, the follower's re-sends of a create, result downloads and the
webhook all wait ``base · factor^attempt`` seconds, capped, optionally with jitter so that
many callers failing together do not try again in the same instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """A back-off rule: ``delay(0)`` is ``base``, each later attempt ``factor`` times longer, never over ``cap``.

    ``jitter`` is the fraction of each delay drawn at random (0.5: between half and the whole delay), as the
    official SDKs do for retries that many clients may start at once.
    """

    base: float
    cap: float
    factor: float = 2.0
    jitter: float = 0.0

    def delay(self, attempt: int, *, rand: float | None = None) -> float:
        """Seconds to wait after the ``attempt``-th failure (0 for the first); ``rand`` in [0, 1) fixes the jitter."""
        plain = min(self.cap, self.base * self.factor ** max(0, attempt))
        if not self.jitter:
            return plain
        draw = random.random() if rand is None else rand
        return plain * (1.0 - self.jitter + self.jitter * draw)
