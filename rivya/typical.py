"""How long a job usually takes, from submit to finish: the one definition the job panel and the follower share.

Per model and the settings that change a job's time (a video's duration and resolution, an image's pro mode): the
median of the log's own newest succeeded jobs of that kind once there are ``MEDIAN_FROM`` of them, else the
catalog's expected seconds for the category (``catalog.expected_seconds``). The follower places its looks near a job's
typical finish (``rivya.schedule``); the job panel scales each card's progress bar and sets its pace by it
(``rivya.panel``, read through the same ``TypicalSeconds``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from statistics import median
from typing import Any

from . import constants
from .catalog import MODELS, expected_seconds
from .status import JobStatus
from .tasklog import Job, TaskLog

# The settings that change how long a job takes; the others (aspect ratio, mode) are taken not to.
TIME_SETTINGS = ("duration", "resolution", "enable_pro")

Kind = tuple[str, ...]


def kind_of(model: str, params: Mapping[str, Any]) -> Kind:
    """A job's kind for timing: its model and its time settings (an unset one at the catalog's default)."""
    spec = MODELS.get(model)
    defaults = spec.defaults() if spec else {}
    return (model, *(str(params.get(key, defaults.get(key))) for key in TIME_SETTINGS))


class TypicalSeconds:
    """The typical seconds per kind of job, from the log's newest ``TYPICAL_SAMPLE`` succeeded jobs (``refresh``: one
    bounded read, at most every ``TYPICAL_REFRESH_SECONDS``); ``seconds(job)`` reads memory only, so the timetable
    can ask it without I/O."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._medians: dict[Kind, float] = {}
        self._read_at = -math.inf
        self._lock = threading.Lock()

    def seconds(self, job: Job) -> float:
        with self._lock:
            found = self._medians.get(kind_of(job.model, job.params))
        return found if found is not None else expected_seconds(job.category)

    def refresh(self, log: TaskLog) -> None:
        """Read the log's newest succeeded jobs again, unless that was done within ``TYPICAL_REFRESH_SECONDS``."""
        now = self.clock()
        if now - self._read_at < constants.TYPICAL_REFRESH_SECONDS:
            return
        self._read_at = now
        self.learn(log.where("status = ? AND finished_at IS NOT NULL", (JobStatus.SUCCEEDED.value,),
                             limit=constants.TYPICAL_SAMPLE))

    def learn(self, jobs: Iterable[Job]) -> None:
        """Medians per kind from these succeeded jobs (newest first), each from its newest ``TYPICAL_PER_KIND``."""
        by_kind: dict[Kind, list[float]] = {}
        for job in jobs:
            times = by_kind.setdefault(kind_of(job.model, job.params), [])
            if len(times) < constants.TYPICAL_PER_KIND:
                times.append(job.elapsed_seconds)
        medians = {kind: median(times) for kind, times in by_kind.items() if len(times) >= constants.MEDIAN_FROM}
        with self._lock:
            self._medians = medians
