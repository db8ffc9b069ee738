"""The sandbox's account state: keys, wallet, tasks, files, idempotency keys, journal.

Everything lives in memory behind one lock. Task progress is computed from the clock
when anyone looks, so no background thread is needed and the wallet settles the moment
a finished task (or the credit balance) is observed.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..catalog import MODELS, REFERENCE_ITEMS_KEY, validate

ALL_SCOPES = frozenset({"models:read", "generations:create", "generations:read", "files:create", "files:read", "credits:read"})
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
    model: str
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
            ext = "mp4" if MODELS[self.model].category == "video" else "png"
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
    kind: str
    name: str
    mime_type: str
    data: bytes = field(repr=False)
    created_at: str = ""


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


class SandboxState:
    """The whole fake account; every public method is thread-safe."""

    def __init__(
        self,
        *,
        api_key: str,
        credits: int = 1000,
        timing: Timing | None = None,
        task_failure_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.keys: dict[str, KeyRecord] = {api_key: KeyRecord()}
        self.credits = credits
        self.timing = timing or Timing()
        self.task_failure_rate = task_failure_rate
        self.tasks: dict[str, Task] = {}
        self.files: dict[str, StoredFile] = {}
        self.idempotency: dict[str, tuple[str, str]] = {}
        self.journal: list[JournalEntry] = []
        self.lock = threading.RLock()
        self.random = random.Random(seed)

    # -- keys ---------------------------------------------------------------------------

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

    # -- wallet and tasks ---------------------------------------------------------------

    def advance(self, now: float | None = None) -> None:
        """Move every task along the clock; settle credits of tasks that just ended."""
        now = time.monotonic() if now is None else now
        with self.lock:
            for task in self.tasks.values():
                if task.status in ("succeeded", "failed"):
                    continue
                age = now - task.started
                if age >= task.queued_for + task.processing_for:
                    task.status = "failed" if task.will_fail else "succeeded"
                    task.final = 0 if task.will_fail else task.reserved
                    if task.will_fail:
                        self.credits += task.reserved
                    task.updated_at = iso_now()
                elif age >= task.queued_for and task.status == "queued":
                    task.status = "processing"
                    task.updated_at = iso_now()

    def create_task(self, body: Any, idempotency_key: str | None, api_key: str) -> tuple[Task, bool]:
        """Validate, charge and queue; a replayed idempotency key returns the first task."""
        if not isinstance(body, dict):
            raise ApiError(400, "validation_failed", "The request body must be a JSON object.")
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self.lock:
            if idempotency_key:
                seen = self.idempotency.get(f"{api_key}:{idempotency_key}")
                if seen:
                    if seen[0] != fingerprint:
                        raise ApiError(
                            409,
                            "idempotency_conflict",
                            "This Idempotency-Key was already used with a different request body.",
                        )
                    self.advance()
                    return self.tasks[seen[1]], True
            model = body.get("model")
            params = body.get("params")
            problems = validate(model, body.get("prompt"), params if params is not None else {})
            extra = sorted(set(body) - {"model", "prompt", "params", "client_request_id"})
            if extra:
                problems.append(
                    f"Unknown top-level field(s): {', '.join(extra)}. Reference files go in params.{REFERENCE_ITEMS_KEY}."
                )
            crid = body.get("client_request_id")
            if crid is not None and not isinstance(crid, str):
                problems.append("client_request_id must be a string.")
            problems.extend(self._check_reference_urls(params))
            if problems:
                raise ApiError(400, "validation_failed", " ".join(problems))
            spec = MODELS[model]
            cost = spec.base_credits
            self.advance()
            if self.credits < cost:
                raise ApiError(
                    402,
                    "insufficient_credits",
                    f"This job needs {cost} credits; the account has {self.credits}.",
                )
            self.credits -= cost
            queued_for, processing_for = self.timing.phases(spec.category)
            will_fail = FAIL_MARKER in body["prompt"] or self.random.random() < self.task_failure_rate
            task = Task(
                id=f"task_{secrets.token_hex(10)}",
                model=model,
                prompt=body["prompt"],
                params=dict(params or {}),
                client_request_id=crid,
                reserved=cost,
                started=time.monotonic(),
                created_at=iso_now(),
                queued_for=queued_for,
                processing_for=processing_for,
                will_fail=will_fail,
            )
            self.tasks[task.id] = task
            if idempotency_key:
                self.idempotency[f"{api_key}:{idempotency_key}"] = (fingerprint, task.id)
            return task, False

    def _check_reference_urls(self, params: Any) -> list[str]:
        items = params.get(REFERENCE_ITEMS_KEY) if isinstance(params, dict) else None
        if not isinstance(items, list):
            return []
        known = {f"/files/content/{fid}" for fid in self.files}
        return [
            f"Reference {n} is not a file uploaded through the Files API by this account."
            for n, item in enumerate(items, start=1)
            if isinstance(item, dict)
            and isinstance(item.get("url"), str)
            and not any(item["url"].endswith(suffix) for suffix in known)
        ]

    def get_task(self, task_id: str) -> Task:
        with self.lock:
            self.advance()
            task = self.tasks.get(task_id)
            if task is None:
                raise ApiError(404, "not_found", "No task with this ID exists for this account.")
            return task

    def balance(self) -> int:
        with self.lock:
            self.advance()
            return self.credits

    def set_credits(self, credits: int) -> None:
        """Fill or drain the wallet (a fault knob: ``set_credits(0)``)."""
        with self.lock:
            self.credits = credits

    def add_file(self, kind: str, name: str, mime_type: str, data: bytes) -> StoredFile:
        with self.lock:
            stored = StoredFile(f"file_{secrets.token_hex(10)}", kind, name, mime_type, data, iso_now())
            self.files[stored.id] = stored
            return stored

    def record(self, entry: JournalEntry) -> None:
        with self.lock:
            self.journal.append(entry)
