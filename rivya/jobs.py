"""Submitting jobs exactly once, and following every pending job to its end on the server.

``JobService.submit`` writes the log row (with its idempotency key) before the create
request goes out. The follower polls every unfinished row of its backend on the
documented cadence from a small pool of threads (one slow request holds up only its own
job), re-sends rows still ``submitting`` with their original key and body, and saves result
media on another pool, whether or not any browser tab is open.

Neither pages nor the follower retry inside a call: a page returns at once and the
follower tries again on its own schedule, so no thread ever sleeps through a retry storm.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import constants
from .backoff import Backoff
from .budgets import day_start
from .catalog import MODELS, REFERENCE_ITEMS_KEY, credits_for, validate
from .client import RivyaClient
from .errors import (
    APIConnectionError,
    APIStatusError,
    IdempotencyConflictError,
    InvalidInputError,
    KeyNotHeldError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    RivyaError,
    ServiceUnavailableError,
    SpendLimitError,
    StorageError,
)
from .media import MediaRefused, download_media, is_private_url, shown_url, thumbnail
from .notify import Notifier
from .people import Person
from .polling import PollSchedule, RequestBudget
from .resources import Generation, UploadedFile
from .results import byte_cap, kept_urls
from .status import JobStatus, is_known
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

# Re-sends of a create whose outcome is unknown: 2, 4, 8 … ``RESEND_MAX_DELAY`` s.
RESEND_BACKOFF = Backoff(constants.RESEND_BASE_DELAY, constants.RESEND_MAX_DELAY)
# Result downloads that failed: 2, 4 … s between tries.
MEDIA_BACKOFF = Backoff(constants.MEDIA_RETRY_DELAY, constants.MEDIA_RETRY_MAX_DELAY)


@dataclass(frozen=True)
class Reference:
    """A reference image checked locally, copied under the data dir, and uploaded."""

    local_path: str
    uploaded: UploadedFile


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
    ) -> None:
        # Calls from pages and from the follower never retry inside the call (see the module doc).
        self.client = client.with_options(max_retries=0)
        # Clients by key owner: the shared key, plus personal keys pasted by people for their
        # own session. Personal keys live only here, in memory, never in the log.
        self._clients: dict[str, RivyaClient] = {SHARED_OWNER: self.client}
        self._released: set[str] = set()
        self._submit_lock = threading.Lock()
        self.log = tasklog
        self.media_dir = Path(media_dir)
        self.backend = backend
        self.schedule = schedule or client.poll_schedule
        self.budget = budget or RequestBudget()
        # Result links may point at the API's own host only when that host is itself local.
        self._allow_private_media = is_private_url(client.base_url)
        self._lock = threading.Lock()  # guards every dict and set below
        self._in_flight: set[str] = set()
        self._busy: set[int] = set()
        self._due: dict[int, tuple[float, int]] = {}
        self._odd_polls: dict[int, int] = {}
        self._saving: set[int] = set()
        # Unfinished jobs as last read; each pass re-reads only rows whose ``updated_at`` moved.
        self._pending: dict[int, Job] = {}
        # This follower's name in the log's leases (several replicas may follow one PostgreSQL log), the jobs it
        # holds, and when it last renewed them (``TaskLog.claim``).
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._held: set[int] = set()
        self._claimed_at = -math.inf
        self._rechecks_seen: int | None = None  # "Check now" presses on any replica, as last read
        self._media_futures: set[Future[None]] = set()
        self._recovered = False
        self._pool = ThreadPoolExecutor(constants.POLL_WORKERS, thread_name_prefix="rivya-poll")
        # How much every job's interval is stretched so that the demand fits the request budget.
        self.stretch = 1.0
        # Seconds each request started after its scheduled time (most recent first out): the
        # follower's own measure of keeping the cadence, read by benchmarks and diagnostics.
        self.lateness: deque[float] = deque(maxlen=10_000)
        self._media_pool = ThreadPoolExecutor(constants.MEDIA_WORKERS, thread_name_prefix="rivya-media")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- keys -----------------------------------------------------------------------------

    def register_key(self, api_key: str) -> str:
        """Keep a client for a personal key; returns its owner id (a fingerprint, not the key)."""
        owner = "personal-" + hashlib.sha256(f"imagine-studio:{api_key}".encode()).hexdigest()[:16]
        with self._lock:
            self._released.discard(owner)
            if owner not in self._clients:
                base = self.client
                self._clients[owner] = RivyaClient(
                    api_key, base.base_url, timeout=base.timeout, max_retries=0, poll_schedule=base.poll_schedule
                )
        return owner

    def release_key(self, owner: str) -> None:
        """Forget a personal key once its running jobs have finished."""
        if owner != SHARED_OWNER:
            with self._lock:
                self._released.add(owner)
            self._drop_released()

    def client_for(self, owner: str) -> RivyaClient:
        with self._lock:
            client = self._clients.get(owner)
        if client is None:
            raise KeyNotHeldError(owner)
        return client

    def _drop_released(self) -> None:
        with self._lock:
            released = set(self._released)
        if not released:
            return
        busy = {job.key_owner for job in self.log.pending(self.backend)}  # only read while a key awaits release
        with self._lock:
            for owner in released - busy:
                self._clients.pop(owner, None)
                self._released.discard(owner)

    # -- submitting -----------------------------------------------------------------------

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
    ) -> list[Job]:
        """Log, then create: one job per key, all of the same prompt and settings, written all or none.

        The same keys always yield the same rows and the same tasks, so a rerun or double click
        of one press is never a second batch. The whole batch's cost is checked against the team's
        and the person's daily budget in one step (``SpendLimitError``: nothing logged or sent).

        Raises ``InvalidInputError`` (nothing logged or sent), ``StorageError`` (the log could not
        be written; ``after_send`` says whether a create may have gone out) and, when the service
        refuses the first create outright, the ``APIStatusError`` (that row is kept as
        ``rejected``, nothing charged; the rest of the batch is left to the follower). When an
        outcome is unknown, or the shared request budget has no room right now, a row is
        returned still ``submitting`` and the follower finishes it with the same key.
        """
        if not keys or len(set(keys)) != len(keys):
            raise ValueError("a batch needs distinct idempotency keys")
        params = {k: v for k, v in params.items() if k != REFERENCE_ITEMS_KEY}
        if reference is not None:
            params[REFERENCE_ITEMS_KEY] = [reference.uploaded.as_reference_item()]
        problems = validate(model, prompt, params)
        if problems:
            raise InvalidInputError(problems)
        self.client_for(owner)  # fails early when a personal key is no longer held here
        cost = credits_for(model, params)
        if len(keys) > 1 and batch_id is None:
            batch_id = keys[0]
        # Checking the budgets and writing the rows is one step, so two sessions cannot both slip
        # under a limit; keys already logged are a replay and are never re-checked.
        with self._submit_lock:
            logged = [self.log.by_key(key) for key in keys]
            if not any(logged):
                try:
                    with self.log.writing() as db:
                        # Read inside the write transaction (exclusive across processes): another replica writing the
                        # same log waits, so the budgets hold across processes too, not only across this one's sessions.
                        self._check_budgets(len(keys) * cost, daily_budget, person, person_budget, budget_timezone)
                        logged = [
                            self.log.add_in(
                                db, idempotency_key=key, params=params, backend=self.backend, model=model,
                                category=MODELS[model].category, prompt=prompt,
                                reference_path=reference.local_path if reference else None,
                                reference_url=reference.uploaded.url if reference else None, page=page,
                                session_id=session_id, key_owner=owner, expected_credits=cost,
                                person=person.id if person else None, person_name=person.name if person else None,
                                batch_id=batch_id, parent_id=parent_id, preset_id=preset_id,
                            )
                            for key in keys
                        ]
                        # In the same transaction: no other replica's follower can take a job before this one holds it.
                        self.log.hold([job.id for job in logged if job is not None], self.holder)
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
                with self._lock:
                    self._held.update(job.id for job in logged if job is not None)
        jobs = [job for job in logged if job is not None]
        sent: list[Job] = []
        refusal: APIStatusError | None = None
        for n, job in enumerate(jobs):
            if job.status != JobStatus.SUBMITTING or not self.budget.try_acquire():
                sent.append(job)  # a rerun of a job already sent, or the follower sends it shortly
                continue
            try:
                sent.append(self._send(job, raise_refusal=n == 0))
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

    def _send(self, job: Job, *, raise_refusal: bool, reserved: bool = False) -> Job:
        """One create for a logged row, counted in the row first (``TaskLog.count_send``): whichever thread sends it,
        a refusal is certain only on the key's very first send (``_create_outcome``). ``reserved``: the caller already
        holds the key in ``_in_flight``."""
        if not reserved:
            with self._lock:
                if job.idempotency_key in self._in_flight:
                    return job
                self._in_flight.add(job.idempotency_key)
        try:
            current = self.log.count_send(job.id)
            if current is None:  # another thread's send settled it meanwhile: never send a settled row again
                return self.log.get(job.id) or job
            job = current
            first = job.sends == 1
            try:
                generation = self.client_for(job.key_owner).create_generation(
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
            self._set_due(job.id, time.time() + self.schedule.delay(0), 0)  # the task exists: first look from now
            return self._apply(job, generation)
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
        with self._lock:
            self._due.pop(job.id, None)
        if raise_refusal and job.status == JobStatus.REJECTED:
            raise exc  # the page says "nothing was charged" only for a certain refusal; the card explains the rest
        return job

    # -- following ------------------------------------------------------------------------

    # Told (on its own thread, never on the polling path) when the follower sees a job end; set by ``Studio``.
    notifier: Notifier | None = None

    def _apply(self, job: Job, generation: Generation, **extra: Any) -> Job:
        """Write what the service said about a task; queue its media for saving once it succeeded."""
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
            self._ended(job, told=was_done)
        if job.awaits_media:
            self._save_later(job)
        return job

    def _ended(self, job: Job, *, told: bool = False) -> None:
        """Never act on a finished job again, and tell the notifier (unless ``told``: it had ended before).

        Its due time becomes a tombstone (never) rather than disappearing: a pass that read the
        job as pending just before it ended must not give it a fresh schedule and poll it again.
        """
        with self._lock:
            self._due[job.id] = (math.inf, self._due.get(job.id, (0.0, 0))[1])
            self._odd_polls.pop(job.id, None)
        if not told and self.notifier is not None:
            self.notifier.job_ended(job)

    def _save_later(self, job: Job) -> None:
        with self._lock:
            if job.id in self._saving:
                return
            try:
                future = self._media_pool.submit(self._save_media, job)
            except RuntimeError:  # the service is stopping; the next start finds the job unsaved
                return
            self._saving.add(job.id)
            self._media_futures.add(future)
        future.add_done_callback(self._media_done)

    def _media_done(self, future: Future[None]) -> None:
        with self._lock:
            self._media_futures.discard(future)

    def _save_media(self, job: Job) -> None:
        """Save every result of a job under the media folder; record why if it cannot be done."""
        try:
            current = self.log.get(job.id)
            if current is None or not current.awaits_media:
                return  # saved (or given up on) meanwhile, e.g. by another replica's follower
            paths: list[str] = []
            problem: str | None = None
            room = byte_cap(job.category)  # what this task may still store (``rivya.results``)
            for n, url in enumerate(kept_urls(job)):
                for attempt in range(constants.MEDIA_ATTEMPTS):
                    try:
                        path = download_media(
                            url, self.media_dir / f"{job.id}-{n}", expected=job.category,
                            allow_private=self._allow_private_media, max_bytes=min(room, constants.MEDIA_MAX_BYTES),
                        )
                    except RivyaError as exc:
                        problem = str(exc)
                        log.warning("job %s: %s not saved, try %d (%s)", job.id, shown_url(url), attempt + 1, type(exc).__name__)
                        if isinstance(exc, MediaRefused) or attempt + 1 == constants.MEDIA_ATTEMPTS:
                            break  # a refusal breaks a rule: trying again cannot help
                        time.sleep(MEDIA_BACKOFF.delay(attempt))
                        continue
                    problem = None
                    room -= path.stat().st_size
                    thumbnail(path)
                    paths.append(str(path))
                    break
                if problem:
                    break
            if problem:
                self.log.update(job.id, media_paths=paths, media_error=problem[:500], unless_saved=True)
            else:
                self.log.update(job.id, media_paths=paths)
        except Exception as exc:
            log.exception("job %s: saving its result failed", job.id)
            with contextlib.suppress(Exception):  # the disk may be what failed; the job still ends as succeeded
                self.log.update(job.id, media_error=f"The result could not be saved here ({type(exc).__name__}).",
                                unless_saved=True)
        finally:
            with self._lock:
                self._saving.discard(job.id)

    def follow_once(self, *, wait_for_results: bool = True) -> int:
        """One pass: send every due job's request on the pool; returns how many requests it sent.

        With ``wait_for_results`` (tests, scripts) it returns once those requests and any
        result downloads they started have finished; the follower thread does not wait.
        """
        if not self._recovered:
            # After a restart, results nobody saved. Several replicas on PostgreSQL each save only the ones they hold
            # a lease on instead (``claimed_unsaved``), never one another replica is saving right now.
            for job in self.log.unsaved(self.backend) if self.log.dialect.is_sqlite else ():
                self._save_later(job)
            self._recovered = True  # only once read: a log unreachable at start is asked again on the next pass
        # Submitted in due order: when every worker is busy, the pool's queue runs them in that order.
        futures = [self._pool.submit(self._act, job) for job in self._take_due(time.time())]
        self._drop_released()
        if wait_for_results:
            wait(futures)
            while True:
                with self._lock:
                    saving = list(self._media_futures)
                if not saving:
                    break
                wait(saving)
        return len(futures)

    def _take_due(self, now: float) -> list[Job]:
        """Due jobs in the order they fell due, each marked busy; as many as the request budget allows.

        When the budget binds, the jobs expected to finish soonest are the ones taken. The demand
        of all pending jobs (one request per current interval each) sets ``stretch``: when it
        exceeds the budget, every job's next interval grows by the same factor.
        """
        due: list[tuple[float, float, Job]] = []
        demand = 0.0
        pending = self._pending_jobs()
        with self._lock:
            # Tombstones of jobs that ended are kept until no pass can still hold them as pending.
            for i in [i for i, (when, _) in self._due.items() if when == math.inf and i not in self._pending]:
                del self._due[i]
        for job in pending:
            with self._lock:
                if job.id in self._busy or job.key_owner not in self._clients:
                    continue  # being polled now, or a personal key no longer held: wait until it is pasted again
                when, polls = self._next_due(job)
            if job.status != JobStatus.SUBMITTING:
                demand += 1.0 / self.schedule.delay(polls + 1, category=job.category)
            if when <= now:
                submitted = datetime.fromisoformat(job.submitted_at).timestamp()
                due.append((when, submitted + constants.EXPECTED_SECONDS.get(job.category, 20.0), job))
        self.stretch = max(1.0, demand / (0.9 * self.budget.rate))
        granted = self.budget.acquire_up_to(len(due)) if due else 0
        if granted < len(due):
            due = sorted(due, key=lambda item: item[1])[:granted]  # closest to their expected finish first
        taken = [job for _, _, job in sorted(due, key=lambda item: item[0])]
        with self._lock:
            self._busy.update(job.id for job in taken)
        return taken

    def _pending_jobs(self) -> list[Job]:
        """The unfinished jobs this follower holds, oldest first, reading whole rows only for those that changed.

        Leases are renewed (and free jobs taken) every ``constants.LEASE_RENEW`` seconds; between renewals the jobs held
        are the ones followed, plus any this process submitted meanwhile.
        """
        now = time.monotonic()
        if self.log.dialect.is_sqlite or now - self._claimed_at >= constants.LEASE_RENEW:
            with self._lock:
                before, owners = set(self._held), list(self._clients)
            stamps = self.log.claim(self.backend, self.holder, owners=owners)
            self._claimed_at = now
            with self._lock:
                # A job a page submitted while the claim ran is held too: its ``hold`` may have come after the claim read.
                self._held = {i for i, _ in stamps} | (self._held - before)
            # Results this replica holds but has not saved: its own downloads (``_save_later`` skips those), and any that
            # a replica which died mid-download was saving; nothing else would ever save those (SQLite: none).
            for job in self.log.claimed_unsaved(self.backend, self.holder):
                self._save_later(job)
            asked = self.log.rechecks_asked()
            if self._rechecks_seen is not None and asked != self._rechecks_seen:
                self._look_now([i for i, _ in stamps])  # "Check now" pressed on some replica
            self._rechecks_seen = asked
        else:
            with self._lock:
                held = set(self._held)
            stamps = [(i, stamp) for i, stamp in self.log.pending_stamps(self.backend) if i in held]
        changed = [i for i, stamp in stamps if (known := self._pending.get(i)) is None or known.updated_at != stamp]
        fresh = {job.id: job for job in self.log.many(changed) if not job.is_done} if changed else {}
        stale = set(changed)
        kept = {i: job for i, job in self._pending.items() if i not in stale}
        self._pending = {i: fresh.get(i) or kept[i] for i, _ in stamps if i in fresh or i in kept}
        return list(self._pending.values())

    def _next_due(self, job: Job) -> tuple[float, int]:
        """When to act on a job next, and how often we already did (kept in memory; call under the lock)."""
        if job.id not in self._due:
            if job.status == JobStatus.SUBMITTING:
                # A row a live page is sending waits a moment; one left by a failure or a restart goes at once.
                start = datetime.fromisoformat(job.updated_at).timestamp()
                first = 0.0 if job.error_code else constants.RESEND_GRACE
            elif job.polls:
                # Polled before, by this process before a restart or by a replica that stopped: the cadence goes on
                # from that poll (the row's last change), so a job taken over is not looked at again at once.
                start = datetime.fromisoformat(job.updated_at).timestamp()
                first = self.schedule.delay(job.polls, category=job.category) * self.stretch
                self._due[job.id] = (start + first, job.polls)
                return self._due[job.id]
            else:
                start = datetime.fromisoformat(job.submitted_at).timestamp()
                first = self.schedule.first_look(job.id)
            self._due[job.id] = (start + first, 0)
        return self._due[job.id]

    def _act(self, job: Job) -> None:
        try:
            client = self.client_for(job.key_owner)
            with self._lock:
                due, attempts = self._due.get(job.id, (time.time(), 0))
            self.lateness.append(max(0.0, time.time() - due))
            if job.status == JobStatus.SUBMITTING:
                self._resend(job, attempts)
            elif job.task_id:
                self._poll(job, client, attempts + 1)
        except Exception:
            log.exception("job %s: follower step failed", job.id)
        finally:
            with self._lock:
                self._busy.discard(job.id)

    def _resend(self, job: Job, attempts: int) -> None:
        """Send a row's create again with its original key; back off 2, 4, 8 … ``RESEND_MAX_DELAY`` s while the
        service answers without confirming it.

        A re-send skipped because another thread (a page) is sending the key right now is not an attempt: it keeps
        the back-off where it was and looks again ``constants.RESEND_GRACE`` later, since that send may end unconfirmed.
        """
        with self._lock:
            if job.idempotency_key in self._in_flight:
                self._due[job.id] = (time.time() + constants.RESEND_GRACE, attempts)
                return
            self._in_flight.add(job.idempotency_key)
            self._due[job.id] = (time.time() + RESEND_BACKOFF.delay(attempts), attempts + 1)
        try:
            self._send(job, raise_refusal=False, reserved=True)
        except StorageError as exc:
            log.warning("job %s: %s", job.id, exc)

    def _poll(self, job: Job, client: RivyaClient, polls: int) -> None:
        """Check one task and record it; a 429 pauses (and slows) every request of this process."""
        delay = self.schedule.delay(polls, category=job.category) * self.stretch
        try:
            generation = client.get_generation(job.task_id or "")
        except RateLimitedError as exc:
            self.budget.pause(exc.retry_after or delay)
            self._set_due(job.id, time.time() + (exc.retry_after or 0) + delay, polls)
            return
        except NotFoundError as exc:
            if exc.code != "not_found":  # a 404 page from a proxy, not Rivya's word: look again later
                self._set_due(job.id, time.time() + delay, polls)
                return
            self._ended(self.log.update(job.id, status=JobStatus.FAILED, error_code="not_found", error_message=exc.message[:500]))
            return
        except RivyaError as exc:
            log.info("job %s: status check failed (%s); will try again", job.id, type(exc).__name__)
            self._set_due(job.id, time.time() + delay, polls)
            return
        if not is_known(generation.status):
            with self._lock:
                odd = self._odd_polls[job.id] = self._odd_polls.get(job.id, 0) + 1
            delay = math.inf if odd >= constants.UNKNOWN_STATUS_MAX_POLLS else constants.UNKNOWN_STATUS_INTERVAL
            log.warning("job %s: the service reports status %r, which the app does not know", job.id, generation.status[:40])
        # The next look is counted from when this poll ran, not from the start of the pass.
        self._set_due(job.id, time.time() + delay, polls)
        self._apply(job, generation, polls=job.polls + 1)

    def _set_due(self, job_id: int, when: float, polls: int) -> None:
        """Schedule a job's next request. A first look (``polls == 0``, asked for at the middle of
        its window) moves to the job's own point of the 2-3 s window (``PollSchedule.first_look``)."""
        if polls == 0:
            when += self.schedule.first_look(job_id) - self.schedule.delay(0)
        with self._lock:
            self._due[job_id] = (when, polls)

    def recheck(self) -> int:
        """Poll every unfinished job at the next pass, whatever its schedule; returns how many.

        With several replicas, each follower looks at the jobs it holds (``TaskLog.ask_recheck``).
        """
        pending = self.log.pending(self.backend)
        self.log.ask_recheck()
        with self._lock:
            mine = [job.id for job in pending if self.log.dialect.is_sqlite or job.id in self._held]
        self._look_now(mine)
        return len(pending)

    def _look_now(self, job_ids: Sequence[int]) -> None:
        """Make these jobs due at once, whatever their schedule (a status the app did not know is asked about again);
        a job not scheduled yet gets its first look as usual."""
        with self._lock:
            for job_id in job_ids:
                if job_id in self._due:
                    self._due[job_id] = (0.0, self._due[job_id][1])
                self._odd_polls.pop(job_id, None)

    def start(self) -> JobService:
        """Run the follower in a daemon thread until ``stop()``."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="rivya-follower", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._media_pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            idle = not self._busy and not self._saving
        if idle:  # let another replica take this one's jobs at once; with a request still out, the leases just expire
            with contextlib.suppress(StorageError):
                self.log.release(self.holder)
        if self.notifier is not None:
            self.notifier.close()
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            client.close()

    def _run(self) -> None:
        """Pass after pass until ``stop()``; an unreachable log is said once, retried every tick, and said back."""
        unreachable = False
        while not self._stop.wait(constants.FOLLOW_TICK):
            try:
                self.follow_once(wait_for_results=False)
            except StorageError as exc:
                if not unreachable:
                    log.warning("the job log cannot be reached (%s); the follower keeps trying", exc)
                unreachable = True
            except Exception:
                log.exception("follower pass failed")
            else:
                if unreachable:
                    log.warning("the job log answers again; the follower goes on with its jobs")
                unreachable = False


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
