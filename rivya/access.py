"""The optional shared password: constant-time comparison and a growing delay after misses."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from .constants import SIGNIN_FORGET_AFTER, SIGNIN_GLOBAL_MAX_DELAY, SIGNIN_MAX_DELAY


@dataclass
class _Misses:
    count: int = 0
    last: float = 0.0


@dataclass
class _Turn:
    """One session's or address's queue of attempts, and how many attempts hold or await it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


class PasswordGate:
    """Checks the app's shared password. One per server process, so new tabs cannot reset the delay.

    Misses are counted three ways, and an attempt waits the longest delay it has earned:
    - per browser session and per client address: 0, 1, 2, 4 … up to ``SIGNIN_MAX_DELAY`` s after
      consecutive misses, so a guesser slows down without slowing the team down;
    - across all sessions: the same doubling, but never above ``SIGNIN_GLOBAL_MAX_DELAY``, so a guesser
      spread over many addresses is still slowed, and the right password from a fresh session
      never waits longer than that for someone else's misses.
    Attempts from one session, and from one address, are taken one at a time: their turn is held
    across the wait and the comparison, so guesses sent in parallel from one address queue behind
    each other and each waits the delay its turn earns (0, 1, 2, 4 … s), instead of all reading
    "no misses yet" and comparing at once. Attempts from elsewhere do not queue behind them.

    An unknown address (Streamlit gives none for a connection from this machine, e.g. a reverse
    proxy on the same host that passes no X-Forwarded-For) counts against its session and the
    global ceiling only: counting all such attempts as one address would let one guesser delay
    everyone behind that proxy again.
    """

    def __init__(
        self, password: str, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._password = password.encode()
        self._sleep = sleep
        self._clock = clock
        self._state = threading.Lock()
        self._misses: dict[tuple[str, str], _Misses] = {}
        self._turns: dict[tuple[str, str], _Turn] = {}

    def __repr__(self) -> str:
        return "PasswordGate(<password hidden>)"

    @staticmethod
    def _keys(session: str | None, address: str | None) -> list[tuple[str, str]]:
        """Whose misses an attempt counts against, the global count last."""
        keys = [("session", session)] if session is not None else []
        keys += [("address", address)] if address else []
        return [*keys, ("all", "")]

    def delay(self, session: str | None = None, address: str | None = None) -> float:
        """Seconds the next attempt from ``session`` at ``address`` waits (without them: the global part alone)."""
        with self._state:
            now = self._clock()
            waits = [0.0]
            for key in self._keys(session, address):
                misses = self._misses.get(key)
                if misses is None or now - misses.last > SIGNIN_FORGET_AFTER:
                    continue
                ceiling = SIGNIN_GLOBAL_MAX_DELAY if key[0] == "all" else SIGNIN_MAX_DELAY
                waits.append(min(ceiling, 2.0 ** (misses.count - 1)))
            return max(waits)

    @contextmanager
    def _turn(self, key: tuple[str, str]) -> Iterator[None]:
        """Hold ``key``'s turn; the lock is dropped when nobody holds or awaits it, so idle keys cost no memory."""
        with self._state:
            turn = self._turns.setdefault(key, _Turn())
            turn.users += 1
        try:
            with turn.lock:
                yield
        finally:
            with self._state:
                turn.users -= 1
                if not turn.users:
                    del self._turns[key]

    def check(self, attempt: str, *, session: str, address: str | None, sleep: bool = True) -> bool:
        """True when ``attempt`` is the password; waits its session's and address's turn, then the delay, first."""
        with ExitStack() as turns:
            for key in self._keys(session, address)[:-1]:  # session first, then address: always one order
                turns.enter_context(self._turn(key))
            wait = self.delay(session, address)
            if sleep and wait:
                self._sleep(wait)
            ok = hmac.compare_digest(attempt.encode(), self._password)
            if not ok:
                self._count_miss(session, address)
        return ok

    def _count_miss(self, session: str, address: str | None) -> None:
        with self._state:
            now = self._clock()
            for key in self._keys(session, address):
                misses = self._misses.setdefault(key, _Misses())
                if now - misses.last > SIGNIN_FORGET_AFTER:
                    misses.count = 0
                misses.count += 1
                misses.last = now
            # Sessions and addresses seen once are forgotten with their misses, so a flood of them cannot grow memory.
            for key in [k for k, m in self._misses.items() if now - m.last > SIGNIN_FORGET_AFTER]:
                del self._misses[key]
