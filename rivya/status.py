"""The one status type: the service's four task states plus the two the app adds before a task exists."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is. Members compare equal to their strings, which is what the task log stores."""

    SUBMITTING = "submitting"  # logged; the create is not confirmed yet (it may or may not have made a task)
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"  # the service refused the create for certain: no task, nothing charged
    # A re-send was refused (e.g. the wallet or key changed since the first send): whether the
    # first send made a task cannot be known, so its price counts as charged. Never re-sent.
    UNCONFIRMED = "unconfirmed"


# Finished for good: never polled or re-sent again.
TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.REJECTED, JobStatus.UNCONFIRMED})
# States the service reports for a task (the reference's section 4).
SERVICE_STATES = frozenset({JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.SUCCEEDED, JobStatus.FAILED})
_APP_ONLY = frozenset(JobStatus) - SERVICE_STATES

# Each status in the studio's words, the same on cards, charts, tables and figures.
STATUS_WORDS: dict[str, str] = {
    JobStatus.SUBMITTING: "Sending",
    JobStatus.QUEUED: "Queued",
    JobStatus.PROCESSING: "Generating",
    JobStatus.SUCCEEDED: "Done",
    JobStatus.FAILED: "Failed",
    JobStatus.REJECTED: "Not started",
    JobStatus.UNCONFIRMED: "Unconfirmed",
}


def normalize_status(raw: object) -> str:
    """A reply's ``status`` trimmed and lower-cased; a missing or non-text one becomes ``"unknown"``.

    Statuses the reference does not list are kept as sent (so a card can show them) and are
    polled on a slow, limited cadence rather than treated as finished. A reply can never
    claim one of the app's own states (``rejected`` would end a charged job at 0 credits):
    those are renamed ``service-…``.
    """
    if not isinstance(raw, str) or not raw.strip():
        return "unknown"
    status = raw.strip().lower()
    return f"service-{status}" if status in _APP_ONLY else status


def is_known(status: str) -> bool:
    """A state the service documents; anything else came from a newer or odder service."""
    return status in SERVICE_STATES


def status_word(status: str) -> str:
    """A status in the studio's words; one the app does not know is shown as sent (never hidden), e.g. "On hold"."""
    return STATUS_WORDS.get(status) or status.replace("_", " ").capitalize()


def sql_status(status: str) -> str:
    """One status as an SQL literal, ``'succeeded'``: the only way a status is written into SQL text.

    Only the app's own statuses qualify (``ValueError`` otherwise), so nothing a reply sent ever reaches SQL text.
    """
    return f"'{JobStatus(status).value}'"


def sql_in(statuses: Iterable[str], sep: str = ",") -> str:
    """A set of statuses as an SQL list, ``('succeeded','failed')``, in ``JobStatus``'s order.

    The text is fixed (order, and ``sep`` between items) because SQL already stored must keep reading the same: the
    follower's query must read exactly as the partial index ``jobs_pending`` a shipped migration created, and the
    rollup, whose stored definition is compared as text, is rebuilt whenever the money rule's text changes.
    """
    wanted = {JobStatus(s) for s in statuses}
    if not wanted:
        raise ValueError("an SQL status list needs at least one status")
    return "(" + sep.join(sql_status(s) for s in JobStatus if s in wanted) + ")"
