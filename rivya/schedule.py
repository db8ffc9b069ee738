"""Which job the follower acts on next, and when: due times, attempts, and the order under a request budget.

A ``Timetable`` is data plus a clock (as the asyncio and trio test clocks are): it never sleeps, starts no thread
and does no I/O, so a test moves the clock instead of waiting. Due times are wall-clock seconds, comparable with
the log's timestamps; the follower reads them, acts, and tells the timetable what happened.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from . import constants
from .backoff import Backoff
from .catalog import expected_seconds
from .polling import PollSchedule, RequestBudget
from .status import JobStatus
from .tasklog import Job

# Re-sends of a create whose outcome is unknown: 2, 4, 8 … ``RESEND_MAX_DELAY`` s.
RESEND_BACKOFF = Backoff(constants.RESEND_BASE_DELAY, constants.RESEND_MAX_DELAY)


class Timetable:
    """When each job is due next and how many requests it had; which are being acted on now (``take``/``done``).

    Safe to share between threads: the follower's pass takes jobs, its workers report on them.
    """

    def __init__(self, cadence: PollSchedule, *, clock: Callable[[], float] = time.time) -> None:
        self.cadence = cadence
        self.clock = clock
        # How much every job's interval is stretched so that the demand fits the request budget.
        self.stretch = 1.0
        self._due: dict[int, tuple[float, int]] = {}  # job id: (when, requests so far)
        # Wall-clock second each job is expected to finish (submitted + its typical seconds), its category, and its
        # typical seconds: ``typical(job)``, per model and time settings (``rivya.typical``; memory only, no I/O).
        self._expect: dict[int, tuple[float, str, float]] = {}
        self.typical: Callable[[Job], float] = lambda job: expected_seconds(job.category)
        # True while webhook deliveries are healthy (``rivya.webhooks.WebhookHealth``): looks relax to the safety
        # cadence, since an event is expected to wake the job first.
        self.relaxed: Callable[[], bool] = lambda: False
        # Looks placed near the expected finish (``_placed``); ``benchmarks/webhooks.py`` turns it off to compare.
        self.place_looks = True
        self._busy: set[int] = set()
        self._odd_polls: dict[int, int] = {}
        self._lock = threading.Lock()

    def due_at(self, job_id: int) -> float | None:
        """When a job is due next (``inf``: never again), or None while it has no schedule here."""
        with self._lock:
            entry = self._due.get(job_id)
        return entry[0] if entry else None

    def attempt(self, job_id: int) -> tuple[float, int]:
        """When the job was due and how many requests it had, as it is being acted on."""
        with self._lock:
            return self._due.get(job_id, (self.clock(), 0))

    @property
    def idle(self) -> bool:
        """No job is being acted on."""
        with self._lock:
            return not self._busy

    def take(
        self, pending: Sequence[Job], budget: RequestBudget, *, can_act: Callable[[Job], bool] = lambda job: True
    ) -> list[Job]:
        """Due jobs in the order they fell due, each marked busy until ``done``; as many as ``budget`` allows.

        When the budget binds, the jobs expected to finish soonest are the ones taken. The demand of all ``pending``
        jobs (one request per current interval each) sets ``stretch``: when it exceeds the budget, every job's next
        interval grows by the same factor. A job ``can_act`` refuses (its key is not held here) waits.
        """
        now = self.clock()
        due: list[tuple[float, float, Job]] = []
        demand = 0.0
        with self._lock:
            # Tombstones of jobs that ended are kept until no pass can still hold them as pending.
            listed = {job.id for job in pending}
            for i in [i for i, (when, _) in self._due.items() if when == math.inf and i not in listed]:
                del self._due[i]
                self._expect.pop(i, None)
            for job in pending:
                if job.id in self._busy or not can_act(job):
                    continue
                when, polls = self._next_due(job)
                if job.status != JobStatus.SUBMITTING:
                    demand += 1.0 / self.cadence.delay(polls + 1, category=job.category)
                typical = self.typical(job)
                expected = datetime.fromisoformat(job.submitted_at).timestamp() + typical
                self._expect[job.id] = (expected, job.category, typical)
                if when <= now:
                    due.append((when, expected, job))
        self.stretch = max(1.0, demand / (0.9 * budget.rate))
        granted = budget.acquire_up_to(len(due)) if due else 0
        if granted < len(due):
            due = sorted(due, key=lambda item: item[1])[:granted]  # closest to their expected finish first
        taken = [job for _, _, job in sorted(due, key=lambda item: item[0])]
        with self._lock:
            self._busy.update(job.id for job in taken)
        return taken

    def done(self, job_id: int) -> None:
        """The job taken is no longer being acted on."""
        with self._lock:
            self._busy.discard(job_id)

    def _next_due(self, job: Job) -> tuple[float, int]:
        """When to act on a job next, and how often we already did (call under the lock)."""
        if job.id not in self._due:
            if job.status == JobStatus.SUBMITTING:
                # A row a live page is sending waits a moment; one left by a failure or a restart goes at once.
                start = datetime.fromisoformat(job.updated_at).timestamp()
                self._due[job.id] = (start + (0.0 if job.error_code else constants.RESEND_GRACE), 0)
            elif job.polls:
                # Polled before, by this process before a restart or by a replica that stopped: the cadence goes on
                # from that poll (the row's last change), so a job taken over is not looked at again at once.
                start = datetime.fromisoformat(job.updated_at).timestamp()
                self._due[job.id] = (start + self.cadence.delay(job.polls, category=job.category) * self.stretch, job.polls)
            else:
                start = datetime.fromisoformat(job.submitted_at).timestamp()
                self._due[job.id] = (start + self.cadence.first_look(job.id), 0)
        return self._due[job.id]

    def _set(self, job_id: int, when: float, polls: int) -> None:
        with self._lock:
            self._due[job_id] = (when, polls)

    def created(self, job_id: int, category: str | None = None) -> None:
        """The create was answered, the task exists: its first look comes at the job's own point of the 2-3 s window
        (``PollSchedule.first_look``), counted from now; while webhooks are healthy, after the safety interval."""
        first = self.cadence.first_look(job_id)
        self._set(job_id, self.clock() + (max(first, _safety(category)) if self.relaxed() else first), 0)

    def interval(self, polls: int, category: str) -> float:
        """Seconds from poll number ``polls`` to the next, stretched to fit the request budget (at least the safety
        interval while webhooks are healthy)."""
        seconds = self.cadence.delay(polls, category=category) * self.stretch
        return max(seconds, _safety(category)) if self.relaxed() else seconds

    def polled(self, job_id: int, polls: int, category: str, *, pause: float = 0.0) -> None:
        """Poll number ``polls`` ran (or failed): the next one an interval (after ``pause``) from now, moved to just
        after the job's expected finish when that falls within the documented spacing (``_placed``)."""
        now = self.clock()
        with self._lock:
            expected, _, typical = self._expect.get(job_id, (None, category, 0.0))
        wait = self.interval(polls, category)
        if expected is not None and self.place_looks and not self.relaxed():
            wait = self._placed(now + pause, expected, wait, category, typical)
        self._set(job_id, now + pause + wait, polls)

    def _placed(self, now: float, expected: float, wait: float, category: str, typical: float) -> float:
        """The wait to the next look, placed where the job has most likely finished, never closer than the documented
        spacing (5 s; video 10 s, stretched to the budget) nor further than the usual interval (``wait``).

        Before the expected finish, the look lands ``LOOK_MARGIN`` after it when the usual interval reaches that far
        (a job that ends early is found no later than before); from then until the job is ``LOOK_OVERDUE_FACTOR``
        times its typical duration old, looks keep the shortest spacing instead of growing, since a job past its
        typical time may end at any moment; after that, the usual growing interval. A look moved earlier to the finish
        replaces one the growing cadence would have made a little later, so the request count stays about the same.
        """
        video = category == "video"
        spacing = (self.cadence.video_interval if video else self.cadence.image_interval) * self.stretch
        target = expected + constants.LOOK_MARGIN
        if now < target:
            return min(max(target - now, spacing), wait)
        if now < expected + typical * (constants.LOOK_OVERDUE_FACTOR - 1.0):
            return spacing
        return wait

    def tighten(self) -> None:
        """Webhook deliveries stopped: every job's next look comes back within the documented cadence from now."""
        now = self.clock()
        with self._lock:
            for job_id, (when, polls) in list(self._due.items()):
                if when != math.inf and when > now and polls:
                    category = self._expect.get(job_id, (0.0, "image", 0.0))[1]
                    self._due[job_id] = (min(when, now + self.cadence.delay(polls, category=category) * self.stretch), polls)
                elif when != math.inf and when > now:
                    self._due[job_id] = (min(when, now + self.cadence.first_look(job_id)), polls)

    def odd_status(self, job_id: int, polls: int) -> None:
        """The service named a status the app does not know: look again slowly, then not at all (``look_now`` does)."""
        with self._lock:
            odd = self._odd_polls[job_id] = self._odd_polls.get(job_id, 0) + 1
            parked = odd >= constants.UNKNOWN_STATUS_MAX_POLLS
            delay = math.inf if parked else constants.UNKNOWN_STATUS_INTERVAL
            self._due[job_id] = (self.clock() + delay, polls)

    def resend(self, job_id: int, attempts: int) -> None:
        """A create is being re-sent (attempt ``attempts + 1``): if it stays unconfirmed, the next after the back-off."""
        self._set(job_id, self.clock() + RESEND_BACKOFF.delay(attempts), attempts + 1)

    def resend_skipped(self, job_id: int, attempts: int) -> None:
        """A re-send skipped while another thread sends the key is not an attempt: look again after the grace."""
        self._set(job_id, self.clock() + constants.RESEND_GRACE, attempts)

    def ended(self, job_id: int) -> None:
        """Never act on this job again.

        Its due time becomes a tombstone (never) rather than disappearing: a pass that read the job as pending just
        before it ended must not give it a fresh schedule and act on it again.
        """
        with self._lock:
            self._due[job_id] = (math.inf, self._due.get(job_id, (0.0, 0))[1])
            self._odd_polls.pop(job_id, None)
            self._expect.pop(job_id, None)

    def forget(self, job_id: int) -> None:
        """Drop a job's schedule (a create settled by a refusal)."""
        with self._lock:
            self._due.pop(job_id, None)
            self._expect.pop(job_id, None)

    def look_now(self, job_ids: Sequence[int]) -> None:
        """Make these jobs due at once, whatever their schedule (a status the app did not know is asked about again);
        a job not scheduled yet gets its first look as usual."""
        with self._lock:
            for job_id in job_ids:
                if job_id in self._due:
                    self._due[job_id] = (0.0, self._due[job_id][1])
                self._odd_polls.pop(job_id, None)


def _safety(category: str | None) -> float:
    """The slow safety cadence while webhooks are healthy (``constants.WEBHOOK_SAFETY_INTERVAL``)."""
    return constants.WEBHOOK_SAFETY_INTERVAL.get(category or "", constants.WEBHOOK_SAFETY_INTERVAL_OTHER)
