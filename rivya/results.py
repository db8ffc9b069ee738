"""What one task may store: its model's documented outputs within a per-task byte cap, and the note when a reply
offered more.

A reply is hostile input: a result listing 25 links of 8 MB each would otherwise store 200 MB for a 4-credit image.
The log keeps the links as the service sent them (History's link, the card's note); only these are ever fetched.
"""

from __future__ import annotations

from . import constants
from .catalog import MODELS
from .tasklog import Job


def outputs(model: str) -> int:
    """Results one task of ``model`` makes (the catalog's fact); one for a model this catalog no longer holds."""
    spec = MODELS.get(model)
    return spec.outputs if spec else 1


def kept_urls(job: Job) -> list[str]:
    """The result links the studio fetches for ``job``: the first ``outputs`` the service listed."""
    return list(job.result_urls[: outputs(job.model)])


def byte_cap(category: str) -> int:
    """Bytes one task of this kind may store in all (``constants.MEDIA_TASK_MAX_BYTES``)."""
    return constants.MEDIA_TASK_MAX_BYTES.get(category, min(constants.MEDIA_TASK_MAX_BYTES.values()))


def offered_note(job: Job) -> str | None:
    """Plain words for a card when the service listed more results than the model makes; None otherwise."""
    offered, kept = len(job.result_urls), outputs(job.model)
    if offered <= kept:
        return None
    first = "the first one" if kept == 1 else f"the first {kept}"
    return f"The service offered {offered} results; the studio kept {first}."
