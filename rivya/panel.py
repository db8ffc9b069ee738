"""The job panel's plan: which jobs are live, where the live part is drawn, and how fast it refreshes.

Pure (log rows and a clock in, decisions out), so plain pytest checks every decision; ``ui.jobs_view`` reads
the log, asks for the plan and draws what it says. What a refresh costs is paid by every open tab every second
or so, so only jobs still in progress are live; finished results are drawn once per page run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rivya.tasklog import Job

from .constants import FAST_LEAD_SECONDS, FAST_REFRESH_SECONDS, OVERDUE_FACTOR, SLOW_REFRESH_SECONDS

# How long a job usually takes, per its model and time settings: ``rivya.typical.TypicalSeconds.seconds``, the rule
# the follower places its looks by.
Typical = Callable[[Job], float]


def is_settled(job: Job) -> bool:
    """Nothing more will change on its card: finished, and its result saved (or given up on)."""
    return job.is_done and not job.awaits_media


def batch_groups(jobs: Iterable[Job]) -> list[list[Job]]:
    """Jobs of one batch together (in the order given), each other job alone; groups in order of first appearance."""
    groups: dict[str | int, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.batch_id or job.id, []).append(job)
    return list(groups.values())


def refresh_interval(jobs: Iterable[Job], typical: Typical, now: datetime) -> float | None:
    """Seconds between refreshes of the live cards; None when no job is left to follow.

    Fast while a result is being saved or a job is near its expected finish (``typical(job)`` seconds
    after it was sent, give or take), slow otherwise.
    """
    interval = None
    for job in jobs:
        if is_settled(job):
            continue
        elapsed = (now - datetime.fromisoformat(job.submitted_at)).total_seconds()
        usual = typical(job)
        if job.awaits_media or usual - FAST_LEAD_SECONDS <= elapsed <= usual * OVERDUE_FACTOR:
            return FAST_REFRESH_SECONDS
        interval = SLOW_REFRESH_SECONDS
    return interval


def needs_page_run(
    jobs: Iterable[Job], settled_before: frozenset[int], armed: float | None, typical: Typical, now: datetime
) -> bool:
    """Whether a refresh must become a page run: a job has settled since (its result joins the finished
    list, drawn by the page run) or the refresh pace should change (only a page run re-arms the timer)."""
    jobs = list(jobs)
    newly_settled = any(is_settled(j) and j.id not in settled_before for j in jobs)
    return newly_settled or refresh_interval(jobs, typical, now) != armed


@dataclass(frozen=True)
class PanelGroup:
    """One entry of the panel's list, newest first: a job on its own, or a batch's box of takes."""

    jobs: tuple[Job, ...]  # newest first
    is_batch: bool
    # What the page run draws: a job on its own once settled (while running, the live part draws it); a batch's
    # settled takes and, unless it hosts the live part, its running ones too; take 1 first.
    page_drawn: tuple[Job, ...]
    hosts_live: bool  # the live part is drawn in this batch's box, under its other takes
    full_size: bool  # a job on its own holding the newest finished result: drawn full size, not as a thumbnail

    @property
    def first(self) -> Job:
        """Take 1: its model, prompt and time of sending stand for the batch's."""
        return self.jobs[-1]

    @property
    def on_their_way(self) -> int:
        return sum(not is_settled(j) for j in self.jobs)


@dataclass(frozen=True)
class PanelPlan:
    """What one page run of the panel draws, and what its live part does on each refresh."""

    typical: Typical  # seconds a job of its model and settings usually takes (the progress bars' scale, the pace)
    interval: float | None  # seconds between refreshes; None: nothing to follow, no live part
    host: str | None  # the batch whose box holds the live part; None: the live part sits above the list
    host_size: int  # takes of the hosting batch (its grid's shape)
    batches: frozenset[str]  # batches of more than one take, each drawn as one box
    watched: tuple[int, ...]  # the ids every refresh re-reads beside the model's newest jobs
    settled: tuple[Job, ...]  # newest first: the finished cards whose stars and lineage the page run reads
    groups: tuple[PanelGroup, ...]

    @property
    def live_above(self) -> bool:
        """The live part is drawn above the finished list (a job on its own is running)."""
        return self.interval is not None and self.host is None

    @property
    def settled_ids(self) -> frozenset[int]:
        return frozenset(j.id for j in self.settled)

    def live_cards(self, current: Iterable[Job]) -> list[Job]:
        """Of a refresh's fresh read, the running jobs the live part draws (newest first): the hosting batch's
        takes, or else every running job not of a batch the page run draws (a newcomer's too)."""
        return [j for j in current if not is_settled(j) and self._drawn_live(j)]

    def _drawn_live(self, job: Job) -> bool:
        return job.batch_id == self.host if self.host else job.batch_id not in self.batches

    def needs_page_run(self, current: Iterable[Job], now: datetime) -> bool:
        """Whether a refresh that read ``current`` must become a page run (see ``needs_page_run``)."""
        return needs_page_run(current, self.settled_ids, self.interval, self.typical, now)


def plan_panel(jobs: Sequence[Job], followed: Iterable[int], typical: Typical, now: datetime) -> PanelPlan:
    """The plan for the panel's ``jobs`` (newest first, batches whole); ``typical``: how long each usually takes.

    One live part, drawn where it belongs: above the finished results while a job on its own runs (it draws
    those), else inside the newest running batch, whose grid fills in. Running takes of any other batch are
    drawn by the page run in their own box (settling, they bring a page run all the same).
    """
    settled = tuple(j for j in jobs if is_settled(j))
    running = [j for j in jobs if not is_settled(j)]
    groups = batch_groups(jobs)
    members = {g[0].batch_id: g for g in groups if len(g) > 1}  # a batch of one is an ordinary job
    singles = any(j.batch_id not in members for j in running)
    host = None if singles or not running else running[0].batch_id
    newest = settled[0].id if settled else None  # the newest finished result is drawn full size, unless in a batch
    return PanelPlan(
        typical=typical,
        interval=refresh_interval(jobs, typical, now),
        host=host,
        host_size=len(members[host]) if host else 0,
        batches=frozenset(b for b in members if b),
        watched=(*followed, *(j.id for j in running)),  # with running takes of batches the recent window cut off
        settled=settled,
        groups=tuple(_group(g, g[0].batch_id in members, host, newest) for g in groups),
    )


def _group(jobs: list[Job], is_batch: bool, host: str | None, newest: int | None) -> PanelGroup:
    if not is_batch:
        done = tuple(j for j in jobs if is_settled(j))
        return PanelGroup(tuple(jobs), False, done, False, bool(done) and done[0].id == newest)
    hosts_live = jobs[0].batch_id == host
    page_drawn = sorted((j for j in jobs if is_settled(j) or not hosts_live), key=lambda j: j.id)  # take 1 first
    return PanelGroup(tuple(jobs), True, tuple(page_drawn), hosts_live, False)
