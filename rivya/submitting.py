"""Submitting jobs exactly once: log the row (with its idempotency key) first, then send the create.

A rerun or a double click of one press reuses its keys and so its rows; a create whose outcome is unknown leaves
its row ``submitting`` for the follower to re-send with the same key and body, which can never charge twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .budgets import day_start
from .catalog import MODELS, REFERENCE_ITEMS_KEY, credits_for, validate
from .database import Transaction
from .errors import (
    APIConnectionError,
    APIStatusError,
    IdempotencyConflictError,
    InvalidInputError,
    MalformedResponseError,
    RateLimitedError,
    ServiceUnavailableError,
    SpendLimitError,
    StorageError,
)
from .keyring import KeyRing
from .leases import HeldJobs
from .outcomes import OutcomeRecorder
from .people import Person
from .polling import RequestBudget
from .resources import UploadedFile
from .schedule import Timetable
from .status import JobStatus
from .tasklog import SHARED_OWNER, Job, TaskLog

log = logging.getLogger("rivya.jobs")

# Errors after which we cannot know whether the service made the task: the row stays
# ``submitting`` and is re-sent later with the same key and body, which can never charge twice.
AMBIGUOUS = (APIConnectionError, ServiceUnavailableError, RateLimitedError, MalformedResponseError)
# Statuses a proxy may send without a Rivya error body that still leave the outcome open.
AMBIGUOUS_HTTP = frozenset({408, 409, 425})
# Codes with which the service itself refuses a create: certain that no task was made.
REFUSAL_CODES = frozenset({
    "validation_failed", "insufficient_credits", "api_key_missing", "api_key_invalid", "api_key_revoked",
    "api_key_expired", "api_scope_denied", "idempotency_conflict", "not_found",
})
# An error_code of ours: a 4xx that did not come from Rivya (no error body); most likely nothing was charged.
UNCONFIRMED_REFUSAL = "unconfirmed_refusal"


@dataclass(frozen=True)
class Take:
    """One job of a press: its idempotency key, prompt and settings (a batch's takes share the last two)."""

    key: str
    prompt: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Reference:
    """A reference image checked locally, copied under the data dir, and uploaded."""

    local_path: str
    uploaded: UploadedFile


class Submitter:
    """Logs and sends creates; any thread (a page, the follower) sends a key only while no other thread does."""

    def __init__(
        self, log: TaskLog, *, backend: str, keys: KeyRing, held: HeldJobs, timetable: Timetable,
        recorder: OutcomeRecorder, budget: RequestBudget,
    ) -> None:
        self.log = log
        self.backend = backend
        self.keys = keys
        self.held = held
        self.timetable = timetable
        self.recorder = recorder
        self.budget = budget
        self._submit_lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, model: str, prompt: str, params: dict[str, Any], *, idempotency_key: str, **options: Any) -> Job:
        """One job: ``submit_batch`` with one key (same options, same guarantees)."""
        return self.submit_batch(model, prompt, params, keys=[idempotency_key], **options)[0]

    def submit_batch(
        self,
        model: str,
        prompt: str,
        params: dict[str, Any],
        *,
        keys: Sequence[str],
        batch_id: str | None = None,
        **options: Any,
    ) -> list[Job]:
        """Log, then create: one job per key, all of the same prompt and settings, written all or none.

        ``submit_takes`` with one take per key (same options, same guarantees); a batch of several takes gets one
        ``batch_id`` (the first key unless given).
        """
        if len(keys) > 1 and batch_id is None:
            batch_id = keys[0]
        takes = [Take(key, prompt, params) for key in keys]
        return self.submit_takes(model, takes, batch_id=batch_id, **options)

    def submit_takes(
        self,
        model: str,
        takes: Sequence[Take],
        *,
        reference: Reference | None = None,
        page: str | None = None,
        session_id: str | None = None,
        owner: str = SHARED_OWNER,
        daily_budget: int | None = None,
        person: Person | None = None,
        person_budget: int | None = None,
        budget_timezone: str = "UTC",
        batch_id: str | None = None,
        parent_id: int | None = None,
        preset_id: int | None = None,
        grid_id: str | None = None,
        record: Callable[[Transaction], None] | None = None,
    ) -> list[Job]:
        """Log, then create: one job per take (a batch's takes, or an Explore grid's cells), written all or none.

        The same keys always yield the same rows and the same tasks, so a rerun or double click
        of one press is never a second batch. The whole press's cost (each take at its own price) is checked
        against the team's and the person's daily budget in one step (``SpendLimitError``: nothing logged or sent).
        ``record`` writes what else belongs to the press (a grid's plan) in the same transaction as its rows.

        Raises ``InvalidInputError`` (nothing logged or sent), ``StorageError`` (the log could not
        be written; ``after_send`` says whether a create may have gone out) and, when the service
        refuses the first create outright, the ``APIStatusError`` (that row is kept as
        ``rejected``, nothing charged; the rest of the press is left to the follower). When an
        outcome is unknown, or the shared request budget has no room right now, a row is
        returned still ``submitting`` and the follower finishes it with the same key.
        """
        keys = [take.key for take in takes]
        if not keys or len(set(keys)) != len(keys):
            raise ValueError("a batch needs distinct idempotency keys")
        sent: list[tuple[str, str, dict[str, Any]]] = []
        problems: list[str] = []
        for take in takes:
            params = {k: v for k, v in take.params.items() if k != REFERENCE_ITEMS_KEY}
            if reference is not None:
                params[REFERENCE_ITEMS_KEY] = [reference.uploaded.as_reference_item()]
            problems.extend(p for p in validate(model, take.prompt, params) if p not in problems)
            sent.append((take.key, take.prompt, params))
        if problems:
            raise InvalidInputError(problems)
        self.keys.client_for(owner)  # fails early when a personal key is no longer held here
        cost = sum(credits_for(model, params) for _, _, params in sent)

        def add(db: Transaction) -> list[Job | None]:
            self._check_budgets(cost, daily_budget, person, person_budget, budget_timezone)
            if record is not None:
                record(db)
            return [
                self.log.add_in(
                    db, idempotency_key=key, params=params, backend=self.backend, model=model,
                    category=MODELS[model].category, prompt=prompt,
                    reference_path=reference.local_path if reference else None,
                    reference_url=reference.uploaded.url if reference else None, page=page,
                    session_id=session_id, key_owner=owner, expected_credits=credits_for(model, params),
                    person=person.id if person else None, person_name=person.name if person else None,
                    batch_id=batch_id, parent_id=parent_id, preset_id=preset_id, grid_id=grid_id,
                )
                for key, prompt, params in sent
            ]

        # Checking the budgets and writing the rows is one step, so two sessions cannot both slip
        # under a limit; keys already logged are a replay and are never re-checked.
        with self._submit_lock:
            logged = [self.log.by_key(key) for key in keys]
            if not any(logged):
                logged = self._log_once(keys, add)
        return self._send_all([job for job in logged if job is not None])

    def _log_once(self, keys: Sequence[str], add: Callable[[Transaction], list[Job | None]]) -> list[Job | None]:
        """Write a batch's rows with ``add`` and hold them, in one transaction; tell an unknown commit apart."""
        try:
            with self.log.writing() as db:
                # Read inside the write transaction (exclusive across processes): another replica writing the
                # same log waits, so the budgets hold across processes too, not only across this one's sessions.
                logged = add(db)
                # In the same transaction: no other replica's follower can take a job before this one holds it.
                self.log.hold([job.id for job in logged if job is not None], self.held.holder)
        except StorageError as exc:
            # A database server may commit and then lose the reply: if the rows are there, they were logged
            # (and will be sent), and telling the person "nothing was sent" would invite a second press.
            try:
                logged = [self.log.by_key(key) for key in keys]
            except StorageError:
                # Whether the COMMIT landed cannot be known while the log is unreachable; if it did, the
                # follower sends these rows once it is back. The least convenient case decides: may be sent.
                raise StorageError(str(exc), after_send=True) from None
            if not all(logged):
                raise
        self.held.hold([job.id for job in logged if job is not None])
        return logged

    def _send_all(self, jobs: list[Job]) -> list[Job]:
        """Send each row still ``submitting`` while the request budget has room; the follower sends the rest."""
        sent: list[Job] = []
        refusal: APIStatusError | None = None
        for n, job in enumerate(jobs):
            if job.status != JobStatus.SUBMITTING or not self.budget.try_acquire():
                sent.append(job)  # a rerun of a job already sent, or the follower sends it shortly
                continue
            try:
                sent.append(self.send(job, raise_refusal=n == 0))
            except APIStatusError as exc:
                # The first take was refused outright. Every take is still sent and judged on its own reply
                # (the follower may already have sent some, and Rivya may have made them): never by another's.
                refusal = exc
                sent.append(self.log.get(job.id) or job)
        if refusal is not None:
            raise refusal
        return sent

    def _check_budgets(
        self, cost: int, team_budget: int | None, person: Person | None, person_budget: int | None, timezone: str
    ) -> None:
        """Refuse (``SpendLimitError``) when ``cost`` would pass the team's or this person's budget today."""
        since = day_start(timezone)
        if team_budget is not None:
            used = self.log.committed_credits_since(since)
            if used + cost > team_budget:
                raise SpendLimitError(team_budget, used, cost)
        if person is not None and person_budget is not None:
            used = self.log.committed_credits_since(since, person=person.id)
            if used + cost > person_budget:
                raise SpendLimitError(person_budget, used, cost, whose=person.name)

    def reserve(self, key: str) -> bool:
        """Hold a key for one send (then ``send(..., reserved=True)``); False while another thread sends it."""
        with self._lock:
            if key in self._in_flight:
                return False
            self._in_flight.add(key)
            return True

    def send(self, job: Job, *, raise_refusal: bool = False, reserved: bool = False) -> Job:
        """One create for a logged row, counted in the row first (``TaskLog.count_send``): whichever thread sends it,
        a refusal is certain only on the key's very first send (``_create_outcome``). A row another thread is sending
        right now is returned as it is. ``reserved``: the caller already holds the key (``reserve``)."""
        if not reserved and not self.reserve(job.idempotency_key):
            return job
        try:
            current = self.log.count_send(job.id)
            if current is None:  # another thread's send settled it meanwhile: never send a settled row again
                return self.log.get(job.id) or job
            job = current
            first = job.sends == 1
            try:
                generation = self.keys.client_for(job.key_owner).create_generation(
                    job.model,
                    job.prompt,
                    job.params or None,
                    idempotency_key=job.idempotency_key,
                    client_request_id=f"studio-{job.id}",
                )
            except APIStatusError as exc:
                return self._refused(job, exc, first=first, raise_refusal=raise_refusal)
            except APIConnectionError as exc:
                log.info("job %s: create not confirmed (%s); will re-send with the same key", job.id, type(exc).__name__)
                return self.log.update(job.id, error_code="network", error_message=str(exc)[:300])
            self.timetable.created(job.id, job.category)  # the task exists: first look from now
            return self.recorder.apply(job, generation)
        except StorageError as exc:
            raise StorageError(str(exc), after_send=True) from None
        finally:
            with self._lock:
                self._in_flight.discard(job.idempotency_key)

    def _refused(self, job: Job, exc: APIStatusError, *, first: bool, raise_refusal: bool) -> Job:
        """Record an error reply to a create: outcome unknown (re-send later), certain refusal, or unconfirmed."""
        if isinstance(exc, RateLimitedError):
            self.budget.pause(exc.retry_after or 0.0)
        status = _create_outcome(exc, first=first)
        if status == JobStatus.SUBMITTING:
            log.info("job %s: create not confirmed (%s); will re-send with the same key", job.id, type(exc).__name__)
            return self.log.update(job.id, error_code=exc.code or "unconfirmed", error_message=exc.message[:300])
        code = exc.code if exc.code in REFUSAL_CODES else UNCONFIRMED_REFUSAL
        job = self.log.update(job.id, status=status, error_code=code, error_message=exc.message[:1000],
                              only_first_send=first and status == JobStatus.REJECTED)
        if not job.is_done:
            return job  # another send of the key began meanwhile (another replica): its outcome decides, or a re-send's
        self.timetable.forget(job.id)
        if raise_refusal and job.status == JobStatus.REJECTED:
            raise exc  # the page says "nothing was charged" only for a certain refusal; the card explains the rest
        return job


def _create_outcome(exc: APIStatusError, *, first: bool) -> JobStatus:
    """What an error reply to a create means for its row.

    ``SUBMITTING`` (outcome unknown, re-send later with the same key and body): no reply from
    Rivya itself (a 5xx, a 429, an unreadable 2xx, a proxy's 408/409/425, or on a re-send any
    reply without a Rivya error code), or a 409 ``idempotency_conflict`` on anything but the
    very first send of a new key: the reference (section 9) is silent, so we take it as "the
    first request is still being processed". ``REJECTED``: certainly no task, nothing charged.
    ``UNCONFIRMED``: a re-send refused by Rivya (e.g. the wallet or the key changed since the
    first send, which may have made and charged the task); only a validation refusal of the
    same bytes proves the first send was refused too.
    """
    if isinstance(exc, AMBIGUOUS):
        return JobStatus.SUBMITTING
    if exc.code is None:
        unknown = not first or exc.status_code in AMBIGUOUS_HTTP
        return JobStatus.SUBMITTING if unknown else JobStatus.REJECTED
    if isinstance(exc, IdempotencyConflictError):
        return JobStatus.SUBMITTING if not first or exc.retries > 0 else JobStatus.REJECTED
    if first or exc.code == "validation_failed":
        return JobStatus.REJECTED
    return JobStatus.UNCONFIRMED
