"""The sandbox's state: keys, one account (wallet, idempotency keys) per key, tasks, files, journal.

Everything lives in memory behind one lock. Task progress is computed from the clock
when anyone looks, so no background thread is needed and the wallet settles the moment
a finished task (or the credit balance) is observed. Tasks and files remember the key
that made them: another key gets ``not_found``, as another account would.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .contract import Contract, load_contract
from .rules import generation_problems

ALL_SCOPES = frozenset({"models:read", "generations:create", "generations:read", "files:create", "files:read", "credits:read",
                        "webhooks:manage"})
# A prompt containing this marker fails, so demos and tests can show a failure on purpose.
FAIL_MARKER = "#fail"


class ApiError(Exception):
    """An error reply in the documented shape; raised by state methods, sent by the server."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class KeyRecord:
    """An API key the sandbox knows: ``active``, ``revoked`` or ``expired``, with scopes."""

    status: str = "active"
    scopes: frozenset[str] = ALL_SCOPES


@dataclass(frozen=True)
class Timing:
    """Seconds a task spends queued and then processing, per model category."""

    image_queued: float = 1.0
    image_processing: float = 4.0
    video_queued: float = 2.0
    video_processing: float = 10.0

    def phases(self, category: str) -> tuple[float, float]:
        if category == "video":
            return self.video_queued, self.video_processing
        return self.image_queued, self.image_processing


@dataclass
class Task:
    id: str
    owner: str = field(repr=False)  # the key that made it; kept out of reprs and test output
    model: str
    category: str
    prompt: str
    params: dict[str, Any]
    client_request_id: str | None
    reserved: int
    started: float
    created_at: str
    queued_for: float
    processing_for: float
    will_fail: bool
    status: str = "queued"
    final: int = 0
    updated_at: str = ""

    def body(self, media_base: str) -> dict[str, Any]:
        result = error = None
        if self.status == "succeeded":
            ext = "mp4" if self.category == "video" else "png"
            url = f"{media_base}/media/{self.id}.{ext}"
            result = {"primary_url": url, "urls": [url]}
        elif self.status == "failed":
            error = {"code": "generation_failed", "message": "The generation failed."}
        return {
            "id": self.id,
            "status": self.status,
            "model": self.model,
            "reserved_credits": self.reserved,
            "final_credits": self.final,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
            "result": result,
            "error": error,
        }


@dataclass
class StoredFile:
    id: str
    owner: str = field(repr=False)
    kind: str
    name: str
    mime_type: str
    data: bytes = field(repr=False)
    created_at: str = ""
    model: str | None = None  # the form's optional ``model`` field, kept so tests can see what a client sent


@dataclass
class Remembered:
    """What an ``Idempotency-Key`` stands for: the body it came with and the task it made."""

    fingerprint: str
    task_id: str
    # Monotonic time until which the first request counts as still in flight.
    busy_until: float = 0.0


@dataclass
class Account:
    """One key's account: its own wallet and its own idempotency keys."""

    credits: int
    idempotency: dict[str, Remembered] = field(default_factory=dict)


@dataclass(frozen=True)
class Created:
    """The outcome of a create: the task, whether it was a replay, and whether to drop the reply."""

    task: Task
    replay: bool
    lose_reply: bool = False


@dataclass(frozen=True)
class JournalEntry:
    """One request as the sandbox saw it; tests read these to measure client behaviour."""

    at: float
    method: str
    path: str
    status: int
    idempotency_key: str | None = None
    task_id: str | None = None
    authorized: bool = False


_FILE_PATH = re.compile(r"/files/content/(?P<id>file_[0-9a-f]+)")


class SandboxState:
    """The whole fake service; every public method is thread-safe."""

    def __init__(
        self,
        *,
        api_key: str,
        credits: int = 1000,
        timing: Timing | None = None,
        task_failure_rate: float = 0.0,
        seed: int | None = None,
        contract: Contract | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.default_key = api_key
        # The service's time in seconds (monotonic): tasks move along it and keys stay in flight by it.
        self.clock = clock or time.monotonic
        self.keys: dict[str, KeyRecord] = {api_key: KeyRecord()}
        self.accounts: dict[str, Account] = {api_key: Account(credits)}
        self.contract = contract or load_contract()
        self.timing = timing or Timing()
        self.task_failure_rate = task_failure_rate
        self.tasks: dict[str, Task] = {}
        self.files: dict[str, StoredFile] = {}
        self.journal: list[JournalEntry] = []
        self.lock = threading.RLock()
        self.random = random.Random(seed)
        # Told (under the lock) the moment a task reaches its end: the webhooks make their events from it.
        self.on_end: Callable[[Task], None] = lambda task: None

    # -- keys and accounts --------------------------------------------------------------

    def add_key(self, key: str, record: KeyRecord, credits: int) -> None:
        """A key with its own account; re-adding a known key changes its status only."""
        with self.lock:
            self.keys[key] = record
            self.accounts.setdefault(key, Account(credits))

    def authorize(self, header: str | None, scope: str) -> str:
        """The key from an ``Authorization`` header, or the documented 401/403 error."""
        if not header or not header.startswith("Bearer ") or not header[7:].strip():
            raise ApiError(401, "api_key_missing", "A valid Bearer API key is required.")
        key = header[7:].strip()
        record = self.keys.get(key)
        if record is None:
            raise ApiError(401, "api_key_invalid", "The API key could not be verified.")
        if record.status == "revoked":
            raise ApiError(401, "api_key_revoked", "This API key has been revoked. Create a new key in Settings.")
        if record.status == "expired":
            raise ApiError(401, "api_key_expired", "This API key is no longer valid. Create a new key in Settings.")
        if scope not in record.scopes:
            raise ApiError(403, "api_scope_denied", f"This API key lacks the {scope} scope.")
        return key

    @property
    def credits(self) -> int:
        """The default key's wallet as it stands (unsettled tasks not yet observed)."""
        with self.lock:
            return self.accounts[self.default_key].credits

    def balance(self, key: str | None = None) -> int:
        """A key's wallet (the default key's when none is named), with finished tasks settled."""
        with self.lock:
            self.advance()
            return self.accounts[key or self.default_key].credits

    def set_credits(self, credits: int, key: str | None = None) -> None:
        """Fill or drain a wallet (a fault knob: ``set_credits(0)``)."""
        with self.lock:
            self.accounts[key or self.default_key].credits = credits

    # -- tasks --------------------------------------------------------------------------

    def advance(self, now: float | None = None) -> None:
        """Move every task along the clock; refund the owner of a task that just failed."""
        now = self.clock() if now is None else now
        with self.lock:
            for task in self.tasks.values():
                if task.status in ("succeeded", "failed"):
                    continue
                age = now - task.started
                if age >= task.queued_for + task.processing_for:
                    task.status = "failed" if task.will_fail else "succeeded"
                    task.final = 0 if task.will_fail else task.reserved
                    if task.will_fail:
                        self.accounts[task.owner].credits += task.reserved
                    task.updated_at = iso_now()
                    self.on_end(task)
                elif age >= task.queued_for and task.status == "queued":
                    task.status = "processing"
                    task.updated_at = iso_now()

    def create_task(self, body: Any, idempotency_key: str | None, api_key: str, hold: Callable[[], float | None]) -> Created:
        """Validate, charge and queue; a repeated idempotency key returns the first task.

        ``hold()`` runs once a new task exists: None answers normally; a number of seconds
        drops the reply and keeps the key "still being processed" for that long.
        """
        # Same body = same JSON value (key order and spacing ignored); our client re-sends
        # byte-identical bodies anyway, so a byte-comparing service would agree.
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.lock:
            account = self.accounts[api_key]
            now = self.clock()
            seen = account.idempotency.get(idempotency_key) if idempotency_key else None
            if seen is not None:
                if seen.fingerprint != fingerprint:
                    raise ApiError(
                        409, "idempotency_conflict", "This Idempotency-Key was already used with a different request body."
                    )
                if now < seen.busy_until:
                    raise ApiError(409, "idempotency_conflict", "A request with this Idempotency-Key is still being processed.")
                # The docs do not say what a replay returns; the sandbox returns the task as it is now.
                self.advance(now)
                return Created(self.tasks[seen.task_id], replay=True)
            problems = generation_problems(body, self.contract, lambda url: self._uploaded_kind(api_key, url))
            if problems:
                raise ApiError(400, "validation_failed", " ".join(problems))
            model = self.contract.models[body["model"]]
            # Both models bill FIXED: the base price, whatever the params.
            cost = model.base_credits
            self.advance(now)
            if account.credits < cost:
                raise ApiError(
                    402, "insufficient_credits", f"{model.id} needs {cost} credits per job; this account has {account.credits}."
                )
            account.credits -= cost
            queued_for, processing_for = self.timing.phases(model.category)
            prompt = body.get("prompt") or ""
            will_fail = FAIL_MARKER in prompt or self.random.random() < self.task_failure_rate
            task = Task(
                id=f"task_{secrets.token_hex(10)}",
                owner=api_key,
                model=model.id,
                category=model.category,
                prompt=prompt,
                params=dict(body.get("params") or {}),
                client_request_id=body.get("client_request_id"),
                reserved=cost,
                started=now,
                created_at=iso_now(),
                queued_for=queued_for,
                processing_for=processing_for,
                will_fail=will_fail,
            )
            self.tasks[task.id] = task
            held = hold()
            if idempotency_key:
                account.idempotency[idempotency_key] = Remembered(fingerprint, task.id, now + (held or 0.0))
            return Created(task, replay=False, lose_reply=held is not None)

    def get_task(self, task_id: str, key: str | None = None) -> Task:
        """A task by id; for ``key``, only that key's own tasks (any owner when None)."""
        with self.lock:
            self.advance()
            task = self.tasks.get(task_id)
            if task is None or (key is not None and task.owner != key):
                raise ApiError(404, "not_found", "No task with this ID exists for this account.")
            return task

    # -- files --------------------------------------------------------------------------

    def add_file(self, owner: str, kind: str, name: str, mime_type: str, data: bytes, model: str | None = None) -> StoredFile:
        with self.lock:
            stored = StoredFile(f"file_{secrets.token_hex(10)}", owner, kind, name, mime_type, data, iso_now(), model)
            self.files[stored.id] = stored
            return stored

    def get_file(self, file_id: str, key: str) -> StoredFile:
        with self.lock:
            stored = self.files.get(file_id)
            if stored is None or stored.owner != key:
                raise ApiError(404, "not_found", "No file with this ID exists for this account.")
            return stored

    def _uploaded_kind(self, key: str, url: str) -> str | None:
        """The kind of ``key``'s upload that ``url`` points to (any host: the Host header varies)."""
        match = _FILE_PATH.fullmatch(urlsplit(url).path)
        stored = self.files.get(match["id"]) if match else None
        return stored.kind if stored is not None and stored.owner == key else None

    def record(self, entry: JournalEntry) -> None:
        with self.lock:
            self.journal.append(entry)
