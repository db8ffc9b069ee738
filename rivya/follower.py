"""Following every pending job to its end on the server, whether or not any browser tab is open.

Each pass takes the due jobs from the timetable and acts on each on a small pool of threads (one slow request
holds up only its own job): a row still ``submitting`` is re-sent with its original key and body, any other is
polled on the documented cadence. Nothing retries inside a call: the follower tries again on its own schedule.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from . import constants
from .client import RivyaClient
from .errors import NotFoundError, RateLimitedError, RivyaError, StorageError
from .keyring import KeyRing
from .leases import HeldJobs
from .outage import OutageNotice
from .outcomes import OutcomeRecorder
from .polling import RequestBudget
from .saving import MediaSaver
from .schedule import Timetable
from .status import JobStatus, is_known
from .submitting import Submitter
from .tasklog import Job, TaskLog
from .typical import TypicalSeconds

log = logging.getLogger("rivya.jobs")


class Follower:
    """Passes over the jobs held here: ``follow_once`` for one, ``start`` for a thread that runs them until ``stop``."""

    def __init__(
        self, log: TaskLog, backend: str, *, keys: KeyRing, held: HeldJobs, timetable: Timetable, submitter: Submitter,
        recorder: OutcomeRecorder, saver: MediaSaver, budget: RequestBudget, outage: OutageNotice,
        typical: TypicalSeconds | None = None,
    ) -> None:
        self.log = log
        self.backend = backend
        self.keys = keys
        self.held = held
        self.timetable = timetable
        self.submitter = submitter
        self.recorder = recorder
        self.saver = saver
        self.budget = budget
        self.outage = outage
        self.typical = typical
        # Seconds each request started after its scheduled time (most recent first out): the
        # follower's own measure of keeping the cadence, read by benchmarks and diagnostics.
        self.lateness: deque[float] = deque(maxlen=10_000)
        # Told of every end a poll finds, so a finish no webhook event announced ends the relaxed cadence at once.
        self.found_end: Callable[[str], None] = lambda task_id: None
        self._recovered = False
        self._pool = ThreadPoolExecutor(constants.POLL_WORKERS, thread_name_prefix="rivya-poll")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def follow_once(self, *, wait_for_results: bool = True) -> int:
        """One pass: send every due job's request on the pool; returns how many requests it sent.

        With ``wait_for_results`` (tests, scripts) it returns once those requests and any
        result downloads they started have finished; the follower thread does not wait.
        """
        if not self._recovered:
            # After a restart, results nobody saved. Several replicas on PostgreSQL each save only the ones they hold
            # a lease on instead (``claimed_unsaved``), never one another replica is saving right now.
            for job in self.log.unsaved(self.backend) if self.log.dialect.is_sqlite else ():
                self.saver.save_later(job)
            self._recovered = True  # only once read: a log unreachable at start is asked again on the next pass
        if self.typical is not None:
            self.typical.refresh(self.log)  # at most once a minute: one bounded read
        taken = self.timetable.take(self.held.pending(), self.budget, can_act=lambda job: self.keys.holds(job.key_owner))
        # Submitted in due order: when every worker is busy, the pool's queue runs them in that order.
        futures = [self._pool.submit(self._act, job) for job in taken]
        self.keys.drop_released(lambda: {job.key_owner for job in self.log.pending(self.backend)})
        if wait_for_results:
            wait(futures)
            self.saver.wait()
        return len(futures)

    def recheck(self) -> int:
        """Poll every unfinished job at the next pass, whatever its schedule; returns how many.

        With several replicas, each follower looks at the jobs it holds (``TaskLog.ask_recheck``).
        """
        pending = self.log.pending(self.backend)
        self.log.ask_recheck()
        self.timetable.look_now([job.id for job in pending if self.held.holds(job.id)])
        return len(pending)

    def _act(self, job: Job) -> None:
        """A job's step: re-send its create or poll its task. A log outage is said once, not once per job."""
        try:
            client = self.keys.client_for(job.key_owner)
            due, attempts = self.timetable.attempt(job.id)
            self.lateness.append(max(0.0, self.timetable.clock() - due))
            if job.status == JobStatus.SUBMITTING:
                self._resend(job, attempts)
            elif job.task_id:
                self._poll(job, client, attempts + 1)
        except StorageError as exc:
            self.outage.failed("step", exc)
        except Exception:
            log.exception("job %s: follower step failed", job.id)
        else:
            self.outage.answered("step")
        finally:
            self.timetable.done(job.id)

    def _resend(self, job: Job, attempts: int) -> None:
        """Send a row's create again with its original key; back off 2, 4, 8 … ``RESEND_MAX_DELAY`` s while the
        service answers without confirming it.

        A re-send skipped because another thread (a page) is sending the key right now is not an attempt: it keeps
        the back-off where it was and looks again ``constants.RESEND_GRACE`` later, since that send may end unconfirmed.
        """
        if not self.submitter.reserve(job.idempotency_key):
            self.timetable.resend_skipped(job.id, attempts)
            return
        self.timetable.resend(job.id, attempts)
        self.submitter.send(job, reserved=True)

    def _poll(self, job: Job, client: RivyaClient, polls: int) -> None:
        """Check one task and record it; a 429 pauses (and slows) every request of this process."""
        try:
            generation = client.get_generation(job.task_id or "")
        except RateLimitedError as exc:
            self.budget.pause(exc.retry_after or self.timetable.interval(polls, job.category))
            self.timetable.polled(job.id, polls, job.category, pause=exc.retry_after or 0)
            return
        except NotFoundError as exc:
            if exc.code != "not_found":  # a 404 page from a proxy, not Rivya's word: look again later
                self.timetable.polled(job.id, polls, job.category)
                return
            self.recorder.ended(self.log.update(job.id, status=JobStatus.FAILED, error_code="not_found",
                                                error_message=exc.message[:500]))
            return
        except RivyaError as exc:
            log.info("job %s: status check failed (%s); will try again", job.id, type(exc).__name__)
            self.timetable.polled(job.id, polls, job.category)
            return
        if is_known(generation.status):
            # The next look is counted from when this poll ran, not from the start of the pass.
            self.timetable.polled(job.id, polls, job.category)
        else:
            self.timetable.odd_status(job.id, polls)
            log.warning("job %s: the service reports status %r, which the app does not know", job.id, generation.status[:40])
        self.recorder.apply(job, generation, polls=job.polls + 1)
        if generation.is_done:
            self.found_end(job.task_id or "")

    def start(self) -> None:
        """Run passes in a daemon thread until ``stop()``."""
        if not self.running:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="rivya-follower", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the passes; requests still out finish on their own (nothing new is started)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        """Pass after pass until ``stop()``; an unreachable log is said once, retried every tick, and said back."""
        while not self._stop.wait(constants.FOLLOW_TICK):
            try:
                self.follow_once(wait_for_results=False)
            except StorageError as exc:
                self.outage.failed("pass", exc)
            except Exception:
                log.exception("follower pass failed")
            else:
                self.outage.answered("pass")
