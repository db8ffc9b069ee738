"""Submitting jobs exactly once, and following every pending job to its end on the server.

``JobService`` assembles the follower's parts for one backend and one data folder and is what the app holds:
the key ring (``rivya.keyring``), the submitter (``rivya.submitting``: log the row, then send the create),
the timetable (``rivya.schedule``: which job is due when), the jobs held under the log's leases
(``rivya.leases``), the outcome recorder (``rivya.outcomes``), the media saver (``rivya.saving``, called when
a job succeeds) and the passes that poll and re-send (``rivya.follower``).

Neither pages nor the follower retry inside a call: a page returns at once and the
follower tries again on its own schedule, so no thread ever sleeps through a retry storm.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Protocol

from .client import RivyaClient
from .download import is_private_url
from .errors import StorageError
from .follower import Follower
from .keyring import KeyRing
from .leases import HeldJobs
from .notify import Notifier
from .outage import OutageNotice
from .outcomes import OutcomeRecorder
from .polling import PollSchedule, RequestBudget
from .saving import MediaSaver
from .schedule import Timetable
from .submitting import REFUSAL_CODES, Reference, Submitter
from .tasklog import TaskLog
from .typical import TypicalSeconds

__all__ = ["REFUSAL_CODES", "Clock", "JobService", "Reference"]


class Clock(Protocol):
    """Wall-clock seconds (due times, compared with the log's timestamps) and steady seconds (lease renewals):
    the ``time`` module, or a test's clock that moves only when the test moves it."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class JobService:
    """Submit and follow jobs for one backend; one instance (and follower) per data folder."""

    def __init__(
        self,
        client: RivyaClient,
        tasklog: TaskLog,
        media_dir: Path,
        *,
        backend: str,
        schedule: PollSchedule | None = None,
        budget: RequestBudget | None = None,
        notifier: Notifier | None = None,
        clock: Clock = time,
    ) -> None:
        # Calls from pages and from the follower never retry inside the call (see the module doc).
        self.client = client.with_options(max_retries=0)
        self.log = tasklog
        self.media_dir = Path(media_dir)
        self.backend = backend
        self.budget = budget or RequestBudget()
        # Told (on its own thread, never on the polling path) when the follower sees a job end.
        self.notifier = notifier
        self.keys = KeyRing(self.client)
        self.timetable = Timetable(schedule or client.poll_schedule, clock=clock.time)
        # Looks are placed near each job's typical finish per model and settings, learnt from the log (``follower``
        # refreshes it; the timetable reads it from memory).
        self.typical = TypicalSeconds(clock=clock.monotonic)
        self.timetable.typical = self.typical.seconds
        outage = OutageNotice()
        # Result links may point at the API's own host only when that host is itself local.
        self.saver = MediaSaver(tasklog, self.media_dir, allow_private=is_private_url(client.base_url), outage=outage)
        self.held = HeldJobs(tasklog, backend, owners=self.keys.owners, on_unsaved=self.saver.save_later,
                             on_recheck=self.timetable.look_now, monotonic=clock.monotonic)
        self.recorder = OutcomeRecorder(tasklog, self.timetable, on_result=self.saver.save_later, notifier=notifier)
        self.submitter = Submitter(tasklog, backend=backend, keys=self.keys, held=self.held, timetable=self.timetable,
                                   recorder=self.recorder, budget=self.budget)
        self.follower = Follower(tasklog, backend, keys=self.keys, held=self.held, timetable=self.timetable,
                                 submitter=self.submitter, recorder=self.recorder, saver=self.saver,
                                 budget=self.budget, outage=outage, typical=self.typical)
        # What the app calls, under the names it always had.
        self.submit, self.submit_batch = self.submitter.submit, self.submitter.submit_batch
        self.submit_takes = self.submitter.submit_takes
        self.follow_once, self.recheck = self.follower.follow_once, self.follower.recheck
        self.client_for, self.register_key = self.keys.client_for, self.keys.register
        # This follower's name in the log's leases, and its measure of keeping the cadence.
        self.holder, self.lateness = self.held.holder, self.follower.lateness

    @property
    def running(self) -> bool:
        """The follower thread runs."""
        return self.follower.running

    def release_key(self, owner: str) -> None:
        """Forget a personal key once its running jobs have finished."""
        self.keys.release(owner)
        self.keys.drop_released(lambda: {job.key_owner for job in self.log.pending(self.backend)})

    def start(self) -> JobService:
        """Run the follower in a daemon thread until ``stop()``."""
        self.follower.start()
        return self

    def stop(self) -> None:
        """Stop the follower and the saver, hand this one's jobs to another replica, close the notifier and clients."""
        self.follower.stop()
        self.saver.stop()
        if self.timetable.idle and self.saver.idle:
            # Another replica may take this one's jobs at once; with a request still out, the leases just expire.
            with contextlib.suppress(StorageError):
                self.log.release(self.holder)
        if self.notifier is not None:
            self.notifier.close()
        self.keys.close()
