"""The one status type: the service's four task states plus the two the app adds before a task exists."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is. Members compare equal to their strings, which is what the task log stores."""

    SUBMITTING = "submitting"  # logged; the create is not confirmed yet (it may or may not have made a task)
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"  # the service refused the create for certain: no task, nothing charged


# Finished for good: never polled again.
TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.REJECTED})
# The service's own states that mean "a task exists and is not finished".
PENDING = frozenset({JobStatus.QUEUED, JobStatus.PROCESSING})
# States the service reports for a task (the reference's section 4).
SERVICE_STATES = frozenset({JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.SUCCEEDED, JobStatus.FAILED})


def normalize_status(raw: object) -> str:
    """A reply's ``status`` trimmed and lower-cased; a missing or non-text one becomes ``"unknown"``.

    Statuses the reference does not list are kept as sent (so a card can show them) and are
    polled on a slow, limited cadence rather than treated as finished.
    """
    if not isinstance(raw, str) or not raw.strip():
        return "unknown"
    return raw.strip().lower()


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def is_known(status: str) -> bool:
    """A status this app understands; anything else came from a newer or odder service."""
    return status in JobStatus._value2member_map_
