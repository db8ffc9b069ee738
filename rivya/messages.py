"""Plain-language words for every error a teammate can meet, and what to do about it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidInputError,
    KeyNotHeldError,
    MalformedResponseError,
    RateLimitedError,
    SpendLimitError,
    StorageError,
)
from .status import JobStatus

if TYPE_CHECKING:
    from .tasklog import Job


@dataclass(frozen=True)
class Explanation:
    """A headline and the next step; shown as text, never as markdown or HTML."""

    title: str
    action: str


_BY_CODE: dict[str, Explanation] = {
    "api_key_missing": Explanation(
        "No API key was sent.", "Ask whoever runs this app to set RIVYA_API_KEY, or paste your own key in the sidebar."
    ),
    "api_key_invalid": Explanation(
        "The API key was not accepted.", "Check the key for typos, or create a new one in Rivya under Settings → API Keys."
    ),
    "api_key_revoked": Explanation(
        "This API key has been revoked.", "Create a new key in Rivya under Settings → API Keys and update the app's secret."
    ),
    "api_key_expired": Explanation(
        "This API key has expired.", "Create a new key in Rivya under Settings → API Keys and update the app's secret."
    ),
    "api_scope_denied": Explanation(
        "This API key is not allowed to do that.",
        "Older keys can lack newer permissions: create a new key (new keys have every scope).",
    ),
    "rate_limited": Explanation(
        "Rivya is receiving too many requests right now.", "Nothing was charged. Wait a few seconds and try again."
    ),
    "validation_failed": Explanation(
        "Rivya could not accept these settings.", "Nothing was charged. Check the prompt and settings, then try again."
    ),
    "insufficient_credits": Explanation(
        "There are not enough credits for this job.", "Nothing was charged. Top up the Rivya wallet, then try again."
    ),
    "idempotency_conflict": Explanation(
        "This request clashed with an earlier one.", "Nothing new was charged. Press Generate again to start a fresh job."
    ),
    "not_found": Explanation(
        "Rivya does not know this job.",
        "It may belong to another account's key, or (in demo mode) the sandbox was restarted.",
    ),
    "public_api_disabled": Explanation(
        "Rivya's API is switched off for the moment.", "Nothing was charged. Try again later; Rivya Studio still works."
    ),
    "generation_failed": Explanation(
        "The generation failed.", "Try again, perhaps with a different prompt."
    ),
    "unconfirmed_refusal": Explanation(
        "The request was turned away before Rivya answered (not a Rivya reply).",
        "Most likely nothing was charged. Check the balance on the History page before trying again.",
    ),
    "lost": Explanation(
        "This job could not be followed to its end.",
        "Open the History page to see what is known; its credits are shown there.",
    ),
}

_SERVER_TROUBLE = Explanation(
    "Rivya had a problem answering.", "Nothing was lost: the app keeps checking and will show the result when it can."
)
_NETWORK = Explanation(
    "Rivya cannot be reached right now.",
    "Check the network connection. Submitted jobs are kept and followed as soon as Rivya answers again.",
)


def explain_code(code: str | None) -> Explanation:
    """Words for a service error code; unknown codes get a careful generic message."""
    return _BY_CODE.get(code or "", Explanation("Something went wrong.", "Try again in a moment."))


UNCONFIRMED = Explanation(
    "Rivya refused a re-send of this job, so the app cannot tell whether the first send made it.",
    "It may have been charged: check the balance on the History page before trying again.",
)
_UNREADABLE = Explanation(
    "Rivya's reply could not be read.",
    "Nothing is lost: the app asks again with the same request, so nothing is charged twice. Don't press again.",
)


def explain(error: BaseException) -> Explanation:
    """Words for any error this package raises."""
    if isinstance(error, StorageError):
        if error.after_send:
            return Explanation(
                "Rivya may already have this job, but the app could not write it down: its job log cannot be reached "
                "(the database is down, or its disk is full or read-only).",
                "Don't press Generate again: the job keeps its place and shows up once the log is back. "
                "Tell whoever runs the app.",
            )
        return Explanation(
            "The app could not write the job down: its job log cannot be reached (the database is down, or its disk "
            "is full or read-only).",
            "Nothing was sent or charged. Tell whoever runs the app.",
        )
    if isinstance(error, MalformedResponseError):
        return _UNREADABLE
    if isinstance(error, KeyNotHeldError):
        return Explanation(
            "This server no longer holds your own API key (it restarted, or the key was forgotten).",
            "Nothing was sent. Paste your key again in the sidebar, or use the team key.",
        )
    if isinstance(error, InvalidInputError):
        return Explanation("Please fix these first: " + " ".join(error.problems), "Nothing was sent or charged.")
    if isinstance(error, SpendLimitError):
        left = max(0, error.budget - error.used)
        whose = "the team's" if error.whose == "team" else f"{error.whose}'s"
        return Explanation(
            f"This would pass {whose} daily budget of {error.budget:,} credits ({error.used:,} used today, {left:,} left; "
            f"this needs {error.cost:,}).",
            "Nothing was sent or charged. The budget resets at midnight; whoever runs the app can raise it.",
        )
    if isinstance(error, RateLimitedError) and error.retry_after:
        base = _BY_CODE["rate_limited"]
        return Explanation(base.title, f"Nothing was charged. Try again in {error.retry_after:.0f} seconds.")
    if isinstance(error, APIStatusError):
        if error.code in _BY_CODE:
            return _BY_CODE[error.code]
        if error.status_code >= 500:
            return _SERVER_TROUBLE
        return explain_code(error.code)
    if isinstance(error, APITimeoutError | APIConnectionError):
        return _NETWORK
    return Explanation("Something unexpected went wrong.", "Try again; if it keeps happening, tell whoever runs this app.")


def cost_words(job: Job) -> str:
    """What a job cost, as a person reads it: "Cost: 4 credits", "Cost: nothing · 4 credits returned"; never the
    ledger's own words (reserved, final, charged)."""
    credits = job.charged_credits
    returned = job.credits_returned
    if job.status == JobStatus.REJECTED:
        return "Cost: nothing (Rivya turned it away)"
    if job.status == JobStatus.SUBMITTING:
        return f"Cost: up to {credits:,} credits (not confirmed yet)"
    if job.status == JobStatus.UNCONFIRMED:
        return f"Cost: {credits:,} credits (it may have been charged)"
    if not job.is_done:
        return f"Cost: {credits:,} credits (held until it finishes)"
    cost = "nothing" if credits == 0 else f"{credits:,} credits"
    return f"Cost: {cost} · {returned:,} credits returned" if returned else f"Cost: {cost}"


def service_said(message: str | None, code: str | None, headline: str) -> str | None:
    """What the service itself said about a failure, with its error code, when that adds to ``headline``:
    ``Rivya said: “Prompt blocked.” (code: content_rejected)``; None when it said nothing new."""
    said = " ".join((message or "").split())
    if said.rstrip(".").lower() == headline.rstrip(".").lower():
        said = ""
    known = code is not None and code in _BY_CODE  # a known code is already in the headline's words
    tail = f" (code: {code})" if code and not known else ""
    if not said:
        return f"Rivya gave the error code {code}." if tail else None
    return f"Rivya said: “{said}”{tail}"


def take_cost(take: Job) -> str:
    """What one take cost, by ``rivya.money``'s rule, in words that never claim more certainty than the log has."""
    credits = take.charged_credits
    if take.status == JobStatus.REJECTED:
        return "nothing, refused"
    if take.status == JobStatus.SUBMITTING:
        return f"up to {credits:,}, not confirmed yet"
    if take.status == JobStatus.UNCONFIRMED:
        return f"{credits:,}, may have been charged"
    if take.status == JobStatus.FAILED:
        return f"{credits:,}, failed"
    return f"{credits:,}"


def batch_costs(takes: Sequence[Job]) -> str:
    """``8 credits (take 1: nothing, refused · take 2: 4 · …)``: the batch's charge and each take's, take 1 first."""
    ordered = sorted(takes, key=lambda take: take.id)  # one press writes its takes in order
    each = " · ".join(f"take {n}: {take_cost(take)}" for n, take in enumerate(ordered, start=1))
    return f"{sum(take.charged_credits for take in ordered):,} credits ({each})"


def explain_batch(error: BaseException, takes: Sequence[Job]) -> Explanation:
    """Words for a press of several takes that met ``error``: what each take cost, never one verdict for all.

    The single-job words may say "Nothing was charged"; in a batch that is true of the refused take only (the
    follower may have sent the others, and Rivya made them), so sentences about charges give way to each take's cost.
    """
    words = explain(error)
    if not takes:
        return words  # nothing was logged, so nothing was sent: the single-job words hold
    steps = [s for s in words.action.split(". ") if "charged" not in s.lower()]
    step = ". ".join(steps).strip()
    step = f" {step if step.endswith('.') else step + '.'}" if step else ""
    return Explanation(words.title, f"This press: {batch_costs(takes)}.{step} Each take's card shows what happened to it.")
