"""Submitting jobs exactly once, and following every pending job to its end on the server.

``JobService.submit`` writes the log row (with its idempotency key) before the create
request goes out. The follower thread polls every unfinished row of its backend on the
documented cadence, re-sends rows still ``submitting`` with their original key, and saves
result media the moment a job succeeds, whether or not any browser tab is open.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .catalog import MODELS, REFERENCE_ITEMS_KEY, credits_for, validate
from .client import RivyaClient
from .errors import (
    APIConnectionError,
    APIStatusError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    RivyaError,
    ServiceUnavailableError,
    SpendLimitError,
)
from .media import download_media, thumbnail
from .polling import PollSchedule, RequestBudget
from .resources import Generation, UploadedFile
from .tasklog import REJECTED, SHARED_OWNER, SUBMITTING, Job, TaskLog

log = logging.getLogger("rivya.jobs")

# Errors after which we cannot know whether the service made the task: the row stays
# ``submitting`` and is re-sent later with the same key, which can never charge twice.
AMBIGUOUS = (APIConnectionError, ServiceUnavailableError, RateLimitedError)
FOLLOW_TICK = 0.5
RETRY_SUBMIT_AFTER = 5.0


@dataclass(frozen=True)
class Reference:
    """A reference image checked locally, copied under the data dir, and uploaded."""

    local_path: str
    uploaded: UploadedFile


class JobService:
    """Submit and follow jobs for one backend; one instance (and thread) per server process."""

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
        self.client = client
        # Clients by key owner: the shared key, plus personal keys pasted by people for their
        # own session. Personal keys live only here, in memory, never in the log.
        self._clients: dict[str, RivyaClient] = {SHARED_OWNER: client}
        self._released: set[str] = set()
        self._submit_lock = threading.Lock()
        self.log = tasklog
        self.media_dir = Path(media_dir)
        self.backend = backend
        self.schedule = schedule or client.poll_schedule
        self.budget = budget or RequestBudget()
        self._in_flight: set[str] = set()
        self._due: dict[int, tuple[float, int]] = {}
        self._lock = threading.Lock()
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
                    api_key, base.base_url, timeout=base.timeout, max_retries=base.max_retries,
                    poll_schedule=base.poll_schedule,
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
            raise KeyError("that personal key is no longer held by this server; paste it again")
        return client

    def _drop_released(self) -> None:
        with self._lock:
            released = set(self._released)
        if not released:
            return
        busy = {job.key_owner for job in self.log.pending(self.backend)}
        with self._lock:
            for owner in released - busy:
                self._clients.pop(owner, None)
                self._released.discard(owner)

    # -- submitting -----------------------------------------------------------------------

    def submit(
        self,
        model: str,
        prompt: str,
        params: dict[str, Any],
        *,
        idempotency_key: str,
        reference: Reference | None = None,
        page: str | None = None,
        session_id: str | None = None,
        owner: str = SHARED_OWNER,
        daily_budget: int | None = None,
    ) -> Job:
        """Log, then create. The same key always yields the same row and the same task.

        Raises ``InvalidInputError`` (nothing logged or sent) and, when the service refuses
        outright, the ``APIStatusError`` (the row is kept as ``rejected``, nothing charged).
        Transient trouble returns the row still ``submitting``; the follower finishes it.
        ``SpendLimitError`` when ``daily_budget`` would be passed (nothing logged or sent).
        """
        params = {k: v for k, v in params.items() if k != REFERENCE_ITEMS_KEY}
        if reference is not None:
            params[REFERENCE_ITEMS_KEY] = [reference.uploaded.as_reference_item()]
        problems = validate(model, prompt, params)
        if problems:
            raise InvalidInputError(problems)
        self.client_for(owner)  # fails early when a personal key is no longer held here
        cost = credits_for(model, params)
        # Checking the budget and writing the row is one step, so two sessions cannot both
        # slip under the limit; a key already logged is a replay and is never re-checked.
        with self._submit_lock:
            job = self.log.by_key(idempotency_key)
            if job is None and daily_budget is not None:
                midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                used = self.log.committed_credits_since(midnight.isoformat(timespec="milliseconds"))
                if used + cost > daily_budget:
                    raise SpendLimitError(daily_budget, used, cost)
            if job is None:
                job = self.log.add(
                    idempotency_key=idempotency_key,
                    backend=self.backend,
                    model=model,
                    category=MODELS[model].category,
                    prompt=prompt,
                    params=params,
                    reference_path=reference.local_path if reference else None,
                    reference_url=reference.uploaded.url if reference else None,
                    page=page,
                    session_id=session_id,
                    key_owner=owner,
                    expected_credits=cost,
                )
        if job.status != SUBMITTING:
            return job  # a rerun or double click of a job already sent
        return self._send(job, raise_refusal=True)

    def _send(self, job: Job, *, raise_refusal: bool) -> Job:
        with self._lock:
            if job.idempotency_key in self._in_flight:
                return job
            self._in_flight.add(job.idempotency_key)
        try:
            generation = self.client_for(job.key_owner).create_generation(
                job.model,
                job.prompt,
                job.params or None,
                idempotency_key=job.idempotency_key,
                client_request_id=f"studio-{job.id}",
            )
        except AMBIGUOUS as exc:
            log.info("job %s: create not confirmed (%s); will re-send with the same key", job.id, type(exc).__name__)
            return self.log.update(job.id, error_code=getattr(exc, "code", None) or "network", error_message=str(exc)[:300])
        except APIStatusError as exc:
            job = self.log.update(job.id, status=REJECTED, error_code=exc.code, error_message=exc.message[:1000])
            if raise_refusal:
                raise
            return job
        finally:
            with self._lock:
                self._in_flight.discard(job.idempotency_key)
        return self._apply(job, generation)

    # -- following ------------------------------------------------------------------------

    def _apply(self, job: Job, generation: Generation, **extra: Any) -> Job:
        """Write what the service said about a task; save media when it has succeeded."""
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
        if generation.status == "succeeded":
            fields["media_paths"], problem = self._save_media(job, generation)
            if problem:
                fields["error_message"] = problem
        job = self.log.update(job.id, **fields)
        if job.is_done:
            self._due.pop(job.id, None)
        return job

    def _save_media(self, job: Job, generation: Generation) -> tuple[list[str], str | None]:
        paths: list[str] = []
        for n, url in enumerate(generation.urls):
            try:
                path = download_media(
                    self.client.session, url, self.media_dir / f"{job.id}-{generation.id}-{n}", expected=job.category
                )
            except Exception as exc:
                log.warning("job %s: could not save %s (%s)", job.id, url[:80], type(exc).__name__)
                return paths, "The result could not be saved locally; it is shown from Rivya's link while that works."
            thumbnail(path)
            paths.append(str(path))
        return paths, None

    def follow_once(self) -> int:
        """One pass over unfinished jobs; returns how many requests it sent."""
        sent = 0
        now = time.time()
        for job in self.log.pending(self.backend):
            client = self._clients.get(job.key_owner)
            if client is None:
                continue  # a personal key this process no longer holds: wait until it is pasted again
            due, attempts = self._next_due(job)
            if now < due or not self.budget.try_acquire():
                continue
            sent += 1
            if job.status == SUBMITTING:
                self._resend(job, now, attempts)
            elif job.task_id and not self._poll(job, client, now, attempts + 1):
                break
        self._drop_released()
        return sent

    def _next_due(self, job: Job) -> tuple[float, int]:
        """When to act on a job next, and how often we already did (kept in memory only)."""
        if job.id not in self._due:
            if job.status == SUBMITTING:
                # A row still being sent by a live page waits; one left by a failure or a
                # restart is re-sent at once.
                start = datetime.fromisoformat(job.updated_at).timestamp()
                first = 0.0 if job.error_code else RETRY_SUBMIT_AFTER
            else:
                start = datetime.fromisoformat(job.submitted_at).timestamp()
                first = self.schedule.delay(0)
            self._due[job.id] = (start + first, 0)
        return self._due[job.id]

    def _resend(self, job: Job, now: float, attempts: int) -> None:
        """Send a row's create again with its original key; back off 2, 4 … 60 s while it fails."""
        if job.idempotency_key in self._in_flight:
            return
        self._due[job.id] = (now + min(60.0, 2.0 ** (attempts + 1)), attempts + 1)
        self._send(job, raise_refusal=False)

    def _poll(self, job: Job, client: RivyaClient, now: float, polls: int) -> bool:
        """Check one task and record it; False when the service asked everyone to slow down."""
        delay = self.schedule.delay(polls, category=job.category)
        try:
            generation = client.get_generation(job.task_id or "")
        except RateLimitedError as exc:
            self.budget.pause(exc.retry_after or delay)
            self._due[job.id] = (now + (exc.retry_after or 0) + delay, polls)
            return False
        except NotFoundError as exc:
            self.log.update(job.id, status="failed", error_code="not_found", error_message=exc.message[:500])
            self._due.pop(job.id, None)
            return True
        except RivyaError as exc:
            log.info("job %s: status check failed (%s); will try again", job.id, type(exc).__name__)
            self._due[job.id] = (now + delay, polls)
            return True
        self._due[job.id] = (now + delay, polls)
        self._apply(job, generation, polls=job.polls + 1)
        return True

    def recheck(self) -> int:
        """Poll every unfinished job at the next pass, whatever its schedule; returns how many."""
        pending = self.log.pending(self.backend)
        for job in pending:
            self._due.pop(job.id, None)
        return len(pending)

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

    def _run(self) -> None:
        while not self._stop.wait(FOLLOW_TICK):
            try:
                self.follow_once()
            except Exception:
                log.exception("follower pass failed")
