"""Recording what the service said about a task, and what follows when a job ends or succeeds.

One place writes a reply into the job's row (``OutcomeRecorder.apply``), whether it came from a create or a poll;
it stops the timetable for a job that ended, tells the notifier, and hands a succeeded job's results to the
media saver's callback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .notify import Notifier
from .resources import Generation
from .schedule import Timetable
from .tasklog import Job, TaskLog


class OutcomeRecorder:
    """Writes replies into the log; ``on_result`` gets every job whose result media await saving."""

    def __init__(
        self, log: TaskLog, timetable: Timetable, *, on_result: Callable[[Job], None], notifier: Notifier | None = None
    ) -> None:
        self.log = log
        self.timetable = timetable
        self.on_result = on_result
        # Told (on its own thread, never on the polling path) when the follower sees a job end.
        self.notifier = notifier

    def apply(self, job: Job, generation: Generation, **extra: Any) -> Job:
        """Write what the service said about a task; hand its media to ``on_result`` once it succeeded."""
        was_done = job.is_done
        fields: dict[str, Any] = {
            **extra,
            "task_id": generation.id or job.task_id,
            "status": generation.status,
            "error_code": generation.error_code,
            "error_message": generation.error_message,
            "result_urls": list(generation.urls),
        }
        if generation.reserved_credits is not None:
            fields["reserved_credits"] = generation.reserved_credits
        if generation.final_credits is not None:
            fields["final_credits"] = generation.final_credits
        job = self.log.update(job.id, **fields)
        if job.is_done:
            self.ended(job, told=was_done)
        if job.awaits_media:
            self.on_result(job)
        return job

    def ended(self, job: Job, *, told: bool = False) -> None:
        """Never act on a finished job again, and tell the notifier (unless ``told``: it had ended before)."""
        self.timetable.ended(job.id)
        if not told and self.notifier is not None:
            self.notifier.job_ended(job)
