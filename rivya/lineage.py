"""Lineage: which result a job started from (Animate) and what was made from it, with the chain's cost."""

from __future__ import annotations

from dataclasses import dataclass

from .constants import LINEAGE_MAX_DEPTH
from .tasklog import Job, TaskLog


@dataclass(frozen=True)
class Lineage:
    """``ancestors`` oldest first (the source image first), ``children`` newest first."""

    job: Job
    ancestors: list[Job]
    children: list[Job]

    @property
    def total_credits(self) -> int:
        """Credits charged for the whole chain: the ancestors, this job and what was made from it."""
        return sum(j.charged_credits for j in (*self.ancestors, self.job, *self.children))


def lineage(log: TaskLog, job: Job) -> Lineage:
    """The chain around ``job``: read up through ``parent_id`` and one level down (index ``jobs_parent``)."""
    ancestors: list[Job] = []
    seen = {job.id}
    parent_id = job.parent_id
    while parent_id is not None and parent_id not in seen and len(ancestors) < LINEAGE_MAX_DEPTH:
        parent = log.get(parent_id)
        if parent is None:
            break
        ancestors.insert(0, parent)
        seen.add(parent.id)
        parent_id = parent.parent_id
    children = log.where("parent_id = ?", (job.id,))
    return Lineage(job=job, ancestors=ancestors, children=children)
