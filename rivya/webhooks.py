"""Rivya webhooks as a wake-up: an event says "look at this task now", never what happened to it.

The status endpoint stays the only source of truth. An event names a task; if it is one of ours and not ended, the
follower that holds it polls it at its next pass (through the shared request budget), or, when another replica holds
it, that replica is asked through the log's shared "check now" counter. So a forged or replayed event costs at most one
status request per task per ``WEBHOOK_TASK_WAKE_SECONDS`` (and the process's wake-ups are rate-limited as a whole), and
no event ever changes a row by itself.

The signature only decides whether an event counts as a sign that deliveries are healthy (which relaxes polling to a
safety cadence, ``WebhookHealth``): an unsigned or badly signed event is still a (rate-limited) wake-up, so a wrong
guess about the undocumented scheme costs speed of nothing but the relaxed polling.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import constants
from .errors import StorageError
from .resources import WEBHOOK_EVENT_TYPES
from .status import JobStatus
from .tasklog import TaskLog

log = logging.getLogger("rivya.webhooks")

# Not documented (reference section 10: header, algorithm and signed string unknown). The choice made here: the common
# scheme of "t=<unix time>,v1=<hex HMAC-SHA256 of '<time>.<raw body>' keyed with the whsec_ secret>", in a header of
# this name. Several v1= values are accepted (a provider signing with two secrets during a rotation sends both).
SIGNATURE_HEADER = "rivya-signature"


@dataclass(frozen=True)
class Answer:
    """What the route sends back: a status and a small JSON body (never the event, never a secret)."""

    status: int
    body: dict[str, Any]


class WebhookHealth:
    """Whether deliveries are arriving: a signed event within ``WEBHOOK_HEALTHY_SECONDS`` here or at any replica sharing
    the log (its stamp, ``TaskLog.webhooks_seen_at``), and no finish found here since by a poll that no event announced.
    Read by the follower's timetable to relax or restore its cadence.

    Replicas: the service delivers each event to one address, and the newest replica to start rotated the secret, so
    only it verifies signatures; the shared stamp lets every replica relax while it does. A replica's own unannounced
    finish ends its health until a newer delivery is stamped by any replica. A job this replica looked at because
    another replica received its event (``announced_jobs``: the shared "check now" counter) counts as announced.
    The stamp is written at most every ``WEBHOOK_HEALTH_WRITE_SECONDS`` and read at most every
    ``WEBHOOK_HEALTH_READ_SECONDS``; a log that cannot be read counts as no stamp (the documented cadence: fail safe).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 on_lost: Callable[[], None] = lambda: None, log: TaskLog | None = None) -> None:
        self.clock = clock
        self.wall = wall
        self.on_lost = on_lost
        self.log = log
        self._last = -float("inf")
        self._announced: OrderedDict[str, None] = OrderedDict()
        self._written = -float("inf")  # wall time of this replica's last stamp written
        self._shared = (-float("inf"), 0.0)  # (monotonic time read, stamp read)
        self._lost_below = 0.0  # a shared stamp at or below this is older than this replica's last loss
        self._lock = threading.Lock()

    def seen(self, task_id: str | None = None) -> None:
        """A signed event arrived (announcing ``task_id``'s end, if it names one)."""
        with self._lock:
            self._last = self.clock()
            if task_id:
                self._remember(task_id)
            now = self.wall()
            write = self.log is not None and now - self._written >= constants.WEBHOOK_HEALTH_WRITE_SECONDS
            if write:
                self._written = now
        if write and self.log is not None:
            try:
                self.log.stamp_webhooks_seen(now)
            except StorageError as exc:  # this replica still relaxes; the others go by their own stamps
                log.warning("the webhook health stamp could not be written (%s)", type(exc).__name__)

    def _remember(self, task_id: str) -> None:
        self._announced[task_id] = None
        while len(self._announced) > constants.WEBHOOK_SEEN_EVENTS:
            self._announced.popitem(last=False)

    def announced_jobs(self, task_ids: list[str]) -> None:
        """Another replica received these tasks' events and asked this one to look (the shared "check now")."""
        with self._lock:
            for task_id in task_ids:
                self._remember(task_id)

    def _shared_stamp(self) -> float:
        """Any replica's last stamp, read at most every ``WEBHOOK_HEALTH_READ_SECONDS``."""
        if self.log is None:
            return 0.0
        now = self.clock()
        with self._lock:
            read_at, stamp = self._shared
        if now - read_at < constants.WEBHOOK_HEALTH_READ_SECONDS:
            return stamp
        try:
            stamp = self.log.webhooks_seen_at()
        except StorageError:
            stamp = 0.0
        with self._lock:
            self._shared = (now, stamp)
        return stamp

    @property
    def healthy(self) -> bool:
        stamp = self._shared_stamp()
        with self._lock:
            if self.clock() - self._last < constants.WEBHOOK_HEALTHY_SECONDS:
                return True
            return stamp > self._lost_below and self.wall() - stamp < constants.WEBHOOK_HEALTHY_SECONDS

    def found_by_poll(self, task_id: str) -> None:
        """A poll found ``task_id`` ended: if no event announced it, deliveries are not arriving; say so at once."""
        if task_id in self._announced or not self.healthy:
            return
        stamp = self._shared_stamp()
        with self._lock:
            self._last = -float("inf")
            self._lost_below = max(self._lost_below, stamp)
        log.warning("a job ended without a webhook event announcing it: polling goes back to its documented cadence")
        self.on_lost()


class _Bucket:
    """A token bucket: ``rate`` a second, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._tokens, self._stamp = float(burst), clock()

    def take(self) -> bool:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass
class Secrets:
    """The endpoint's signing secrets, in memory only: the current one and the one before a rotation."""

    current: str | None = field(default=None, repr=False)
    previous: str | None = field(default=None, repr=False)

    def set(self, secret: str) -> None:
        if secret != self.current:
            self.previous, self.current = self.current, secret

    def all(self) -> list[str]:
        return [s for s in (self.current, self.previous) if s]


class HookReceiver:
    """Checks one delivery and turns it into at most one wake-up; thread-safe, answers without any network call.

    ``holds(job_id)``: this process's follower looks after the job; ``wake(job_id)``: poll it at the next pass;
    ``ask_holder()``: ask every replica's follower to look now (the log's shared "check now" counter).
    """

    def __init__(
        self, log: TaskLog, backend: str, *, holds: Callable[[int], bool], wake: Callable[[int], None],
        ask_holder: Callable[[], None], health: WebhookHealth, clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.log = log
        self.backend = backend
        self.holds = holds
        self.wake = wake
        self.ask_holder = ask_holder
        self.health = health
        self.clock = clock
        self.wall = wall
        self.secrets = Secrets()
        # Counts for diagnostics and benchmarks: what arrived and what it led to.
        self.counts: dict[str, int] = {}
        self._seen: OrderedDict[tuple[str, bool], None] = OrderedDict()
        self._woken: dict[str, float] = {}
        self._bucket = _Bucket(constants.WEBHOOK_WAKES_PER_SECOND, constants.WEBHOOK_WAKE_BURST, clock)
        self._asked_at = {True: -float("inf"), False: -float("inf")}  # last ask of the replicas, signed or not
        self._lock = threading.Lock()

    def receive(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """One delivery's raw body and headers (names in any case) to an answer; never raises for bad input."""
        if len(body) > constants.WEBHOOK_MAX_BODY:
            return self._answer("too_large", 413, "The event is larger than this receiver takes.")
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return self._answer("not_json", 400, "The body is not a JSON event.")
        event_id = event.get("id") if isinstance(event, dict) else None
        kind = event.get("type") if isinstance(event, dict) else None
        if not (isinstance(event_id, str) and 0 < len(event_id) <= constants.WEBHOOK_MAX_ID_CHARS and isinstance(kind, str)):
            return self._answer("not_event", 400, "The body is not an event (no id or type).")
        signed = self._verified(body, {k.lower(): v for k, v in headers.items()})
        with self._lock:
            replayed = (event_id, signed) in self._seen
            self._seen[(event_id, signed)] = None
            while len(self._seen) > constants.WEBHOOK_SEEN_EVENTS:
                self._seen.popitem(last=False)
        if replayed:
            return self._answer("replayed", 200, "Already received.")
        task_id = _task_id(event) if kind in WEBHOOK_EVENT_TYPES else None
        if signed:
            self.health.seen(task_id)
        if task_id is None:
            return self._answer("signed_other" if signed else "other", 200, "Received.")
        try:
            outcome = self._wake(task_id, signed=signed)
        except StorageError:
            # The log is unreachable: nothing could be polled or recorded now; the service retries the delivery,
            # which must then not be taken for a replay.
            with self._lock:
                self._seen.pop((event_id, signed), None)
            return self._answer("log_unavailable", 503, "Try again later.")
        return self._answer(outcome, 200, "Received.")

    def _verified(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether a secret we hold signed this body within the tolerance (constant-time compare)."""
        secrets = self.secrets.all()
        header = headers.get(SIGNATURE_HEADER, "")
        if not secrets or not header or len(header) > 2000:
            return False
        stamp, signatures = None, []
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            if name == "t" and value.isdigit():
                stamp = int(value)
            elif name == "v1":
                signatures.append(value)
        if stamp is None or abs(self.wall() - stamp) > constants.WEBHOOK_TOLERANCE_SECONDS:
            return False
        signed = f"{stamp}.".encode() + body
        for secret in secrets:
            expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
            if any(hmac.compare_digest(expected, s) for s in signatures):
                return True
        return False

    def _wake(self, task_id: str, *, signed: bool) -> str:
        """Wake the job of ``task_id`` if it is ours, unfinished, and within the rate limits; returns what happened.

        A signed event is the service's own (its id is new: replays were turned away): it skips the per-task and
        overall limits, which unsigned events share, so a flood of forged events cannot crowd out a real one. Asking
        the other replicas is limited either way (each ask makes every holder look at all its jobs), in two windows.
        """
        found = self.log.where("backend = ? AND task_id = ?", (self.backend, task_id), limit=1)
        job = found[0] if found else None
        if job is None:
            return "unknown_task"
        if job.is_done or job.status == JobStatus.SUBMITTING:
            return "already_ended" if job.is_done else "not_sent"
        now = self.clock()
        with self._lock:
            if not signed:
                if now - self._woken.get(task_id, -float("inf")) < constants.WEBHOOK_TASK_WAKE_SECONDS:
                    return "limited_task"
                if not self._bucket.take():
                    return "limited_overall"
                self._woken[task_id] = now
                if len(self._woken) > constants.WEBHOOK_SEEN_EVENTS:
                    self._woken = {t: at for t, at in self._woken.items()
                                   if now - at < constants.WEBHOOK_TASK_WAKE_SECONDS}
            if not self.holds(job.id):
                if now - self._asked_at[signed] < constants.WEBHOOK_RECHECK_SECONDS:
                    return "limited_replicas"
                self._asked_at[signed] = now
                ask = True
            else:
                ask = False
        if ask:
            self.ask_holder()
            return "asked_holder"
        self.wake(job.id)
        return "woken"

    def _answer(self, outcome: str, status: int, message: str) -> Answer:
        with self._lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
        return Answer(status, {"ok": status < 300, "message": message})


def _task_id(event: Mapping[str, Any]) -> str | None:
    """The task an event names. The envelope is cut off in the reference after ``created_at``; the generation object
    is looked for where providers put it (``data``, ``data.object``, ``generation``, ``object``)."""
    data = event.get("data")
    for candidate in (data, data.get("object") if isinstance(data, dict) else None, event.get("generation"),
                      event.get("object")):
        if isinstance(candidate, dict):
            task_id = candidate.get("id")
            if isinstance(task_id, str) and 0 < len(task_id) <= constants.WEBHOOK_MAX_ID_CHARS:
                return task_id
    return None
