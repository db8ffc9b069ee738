"""The sandbox's HTTP face: Rivya Public API v1 on a local port, with fault knobs."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..constants import API_PREFIX
from .contract import Contract
from .hooks import Webhooks
from .render import render_mp4, render_png
from .rules import upload_problems
from .state import ApiError, JournalEntry, KeyRecord, SandboxState, StoredFile, Timing

DEFAULT_SANDBOX_KEY = "rvya_sk_sandbox_local"
MAX_BODY = 52 * 1024 * 1024
# How often the serving loop looks whether stop() was asked: socketserver's default (0.5 s) made every stop take about
# that long, and tests start and stop a sandbox for hundreds of tests.
STOP_POLL = 0.02


@dataclass
class Faults:
    """Knobs for fault drills. Rates are probabilities per request; ``next_*`` are counts.

    A lost create made the task and charged, but its reply never arrives. For
    ``in_flight_seconds`` afterwards the same Idempotency-Key and body get 409
    ``idempotency_conflict`` ("still being processed"), then a replay of the task.
    """

    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float = 1.0
    lost_create_rate: float = 0.0
    in_flight_seconds: float = 0.0
    public_api_disabled: bool = False
    next_errors: int = 0
    next_rate_limits: int = 0
    next_lost_creates: int = 0
    # One entry per coming create to lose: the seconds its key then stays in flight.
    next_held_creates: list[float] = field(default_factory=list)


class _LoseResponse(Exception):
    """Close the connection without answering (the task was already created)."""


_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("GET", rf"{API_PREFIX}/models", "models"),
        ("POST", rf"{API_PREFIX}/generations", "create_generation"),
        ("GET", rf"{API_PREFIX}/generations/(?P<id>[^/]+)", "get_generation"),
        ("POST", rf"{API_PREFIX}/files", "upload_file"),
        ("GET", rf"{API_PREFIX}/files/(?P<id>[^/]+)", "get_file"),
        ("GET", rf"{API_PREFIX}/credits", "credits"),
        ("GET", rf"{API_PREFIX}/webhooks", "list_webhooks"),
        ("POST", rf"{API_PREFIX}/webhooks", "create_webhook"),
        ("GET", rf"{API_PREFIX}/webhooks/(?P<id>[^/]+)", "get_webhook"),
        ("PATCH", rf"{API_PREFIX}/webhooks/(?P<id>[^/]+)", "update_webhook"),
        ("DELETE", rf"{API_PREFIX}/webhooks/(?P<id>[^/]+)", "delete_webhook"),
        ("POST", rf"{API_PREFIX}/webhooks/(?P<id>[^/]+)/rotate-secret", "rotate_webhook"),
        ("GET", rf"{API_PREFIX}/webhooks/(?P<id>[^/]+)/deliveries", "webhook_deliveries"),
        ("POST", rf"{API_PREFIX}/webhooks/(?P<id>[^/]+)/test", "test_webhook"),
        ("GET", rf"{API_PREFIX}/webhook-events", "webhook_events"),
        ("GET", r"/files/content/(?P<id>[^/]+)", "file_content"),
        ("GET", r"/media/(?P<id>task_[0-9a-f]+)\.(?:png|mp4)", "media"),
    )
)


def _route(method: str, path: str) -> tuple[str, re.Match[str]]:
    for route_method, pattern, name in _ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return name, match
    raise ApiError(404, "not_found", f"No route for {method} {path}.")


def _models_body(contract: Contract) -> dict[str, Any]:
    """``GET /models`` in the documented shape, built from the contract fixture.

    The docs do not give the shape of ``params[]`` or ``reference_media``; the sandbox sends
    the fixture's own spelling of them.
    """
    data = []
    for spec in contract.models.values():
        data.append(
            {
                "id": spec.id,
                "display_name": spec.display_name,
                "category": spec.category,
                "runtime": "async_task",
                "base_credits": spec.base_credits,
                "billing_type": spec.billing_type,
                "supported_modes": [f"text-to-{spec.category}", f"image-to-{spec.category}"],
                "max_prompt_length": spec.max_prompt_length,
                "reference_media": {
                    "max_files": spec.reference.max_files,
                    "kinds": list(spec.reference.kinds),
                    "max_bytes": spec.reference.max_bytes,
                    "mime_types": list(spec.reference.mime_types),
                },
                "params": [{k: v for k, v in vars(p).items() if v is not None and v != ()} for p in spec.params],
                "api_status": "available",
                "api_input_status": "partial_requires_files",
                "supported_api_inputs": ["text", "file"],
                "requires_files_api": False,
                "requires_upload_for_modes": [f"image-to-{spec.category}"],
                "url_input_supported": False,
                "file_kinds": list(spec.reference.kinds),
                "chat_capabilities": None,
                "notices": [],
            }
        )
    return {"object": "list", "data": data}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "RivyaSandbox/1"
    sandbox: Sandbox

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the journal is the record; stderr noise would bury test output."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        sandbox = self.sandbox
        entry: dict[str, Any] = {"method": method, "path": path, "idempotency_key": self.headers.get("Idempotency-Key")}
        try:
            # Read the whole body first: on a kept-alive connection, an error reply sent
            # before the body is read would leave it to be parsed as the next request.
            self._body = self._drain()
            name, match = _route(method, path)
            if path.startswith(API_PREFIX):
                sandbox.apply_request_faults(name)
            status, body, content_type, extra = getattr(self, f"_{name}")(match, entry)
        except _LoseResponse:
            entry["status"] = 0
            self.close_connection = True
            sandbox.state.record(JournalEntry(at=time.monotonic(), **entry))
            return
        except ApiError as err:
            status, content_type, extra = err.status, "application/json", err.headers
            body = json.dumps(
                {"error": {"code": err.code, "message": err.message, "requestId": f"req_{secrets.token_hex(8)}"}}
            ).encode()
        entry["status"] = status
        sandbox.state.record(JournalEntry(at=time.monotonic(), **entry))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for header, value in extra.items():
            self.send_header(header, value)
        self.end_headers()
        self.wfile.write(body)

    # -- helpers --------------------------------------------------------------------------

    def _drain(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            raise ApiError(400, "validation_failed", "The request body is too large.")
        return self.rfile.read(length) if length else b""

    def _auth(self, scope: str, entry: dict[str, Any]) -> str:
        key = self.sandbox.state.authorize(self.headers.get("Authorization"), scope)
        entry["authorized"] = True
        return key

    @property
    def _media_base(self) -> str:
        return f"http://{self.headers.get('Host') or self.sandbox.host_port}"

    @staticmethod
    def _json(status: int, body: Any) -> tuple[int, bytes, str, dict[str, str]]:
        return status, json.dumps(body).encode(), "application/json", {}

    # -- routes ---------------------------------------------------------------------------

    def _models(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        return self._json(200, _models_body(self.sandbox.state.contract))

    def _create_generation(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        raw = self._body
        key = self._auth("generations:create", entry)
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            raise ApiError(400, "validation_failed", "Content-Type must be application/json.")
        try:
            body = json.loads(raw, parse_constant=_refuse_constant)
        except ValueError:
            raise ApiError(400, "validation_failed", "The request body is not valid JSON.") from None
        created = self.sandbox.state.create_task(body, self.headers.get("Idempotency-Key"), key, self.sandbox.hold_for_create)
        entry["task_id"] = created.task.id
        if created.lose_reply:
            raise _LoseResponse
        return self._json(200 if created.replay else 201, created.task.body(self._media_base))

    def _get_generation(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        key = self._auth("generations:read", entry)
        entry["task_id"] = match["id"]
        return self._json(200, self.sandbox.state.get_task(match["id"], key).body(self._media_base))

    def _credits(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        key = self._auth("credits:read", entry)
        return self._json(200, {"current_credits": self.sandbox.state.balance(key)})

    def _json_body(self) -> Any:
        try:
            return json.loads(self._body or b"{}", parse_constant=_refuse_constant)
        except ValueError:
            raise ApiError(400, "validation_failed", "The request body is not valid JSON.") from None

    def _list_webhooks(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        return self._json(200, self.sandbox.webhooks.listed(self._auth("webhooks:manage", entry)))

    def _create_webhook(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        key = self._auth("webhooks:manage", entry)
        return self._json(201, self.sandbox.webhooks.create(key, self._json_body()))

    def _get_webhook(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        return self._json(200, self.sandbox.webhooks.get(self._auth("webhooks:manage", entry), match["id"]))

    def _update_webhook(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        key = self._auth("webhooks:manage", entry)
        return self._json(200, self.sandbox.webhooks.update(key, match["id"], self._json_body()))

    def _delete_webhook(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        return self._json(200, self.sandbox.webhooks.delete(self._auth("webhooks:manage", entry), match["id"]))

    def _rotate_webhook(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        return self._json(200, self.sandbox.webhooks.rotate(self._auth("webhooks:manage", entry), match["id"]))

    def _webhook_deliveries(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        return self._json(200, self.sandbox.webhooks.delivery_list(self._auth("webhooks:manage", entry), match["id"]))

    def _test_webhook(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        return self._json(202, self.sandbox.webhooks.test(self._auth("webhooks:manage", entry), match["id"]))

    def _webhook_events(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        return self._json(200, self.sandbox.webhooks.event_list(self._auth("webhooks:manage", entry)))

    def _upload_file(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        raw = self._body
        key = self._auth("files:create", entry)
        fields, upload = _parse_multipart(self.headers.get("Content-Type") or "", raw)
        if upload is None:
            raise ApiError(400, "validation_failed", "Send the file as the multipart part named 'file'.")
        filename, data = upload
        problems, detected = upload_problems(fields, data, self.sandbox.state.contract)
        if problems:
            raise ApiError(400, "validation_failed", " ".join(problems))
        stored = self.sandbox.state.add_file(key, fields["kind"], filename, detected, data, fields.get("model"))
        return self._json(201, self._file_body(stored))

    def _file_body(self, stored: StoredFile) -> dict[str, Any]:
        return {
            "id": stored.id,
            "object": "file",
            "kind": stored.kind,
            "name": stored.name,
            "mime_type": stored.mime_type,
            "size": len(stored.data),
            "url": f"{self._media_base}/files/content/{stored.id}",
            "created_at": stored.created_at,
        }

    def _get_file(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        key = self._auth("files:read", entry)
        return self._json(200, self._file_body(self.sandbox.state.get_file(match["id"], key)))

    def _file_content(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        # Like result URLs, an uploaded file's URL is public: the id is the secret.
        stored = self.sandbox.state.files.get(match["id"])
        if stored is None:
            raise ApiError(404, "not_found", "No such file.")
        return 200, stored.data, stored.mime_type, {}

    def _media(self, match: re.Match[str], entry: dict[str, Any]) -> tuple[int, bytes, str, dict[str, str]]:
        # Result URLs are public (reference section 4): no key, any account's task.
        state = self.sandbox.state
        task = state.tasks.get(match["id"])
        if task is None or state.get_task(task.id).status != "succeeded":
            raise ApiError(404, "not_found", "No result for this task.")
        params = {**state.contract.models[task.model].defaults(), **task.params}
        if task.category == "video":
            data = render_mp4(task.prompt, params["aspect_ratio"], params["resolution"], int(params["duration"]))
            return 200, data, "video/mp4", {}
        return 200, render_png(task.prompt, params["aspect_ratio"], params.get("enable_pro") == "true"), "image/png", {}


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259), though Python's parser takes them."""
    raise ValueError(f"{name} is not valid JSON")


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """Form fields and the ``file`` part of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(400, "validation_failed", "Content-Type must be multipart/form-data.")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    upload: tuple[str, bytes] | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "file":
            upload = (part.get_filename() or "upload", payload)
        elif isinstance(name, str):
            fields[name] = payload.decode("utf-8", "replace")
    return fields, upload


class Sandbox:
    """A local Rivya API. ``Sandbox(port=0).start()`` in tests; ``python -m rivya.sandbox`` alone."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_SANDBOX_KEY,
        credits: int = 1000,
        timing: Timing | None = None,
        faults: Faults | None = None,
        task_failure_rate: float = 0.0,
        seed: int | None = None,
        contract: Contract | None = None,
        clock: Callable[[], float] | None = None,
        allow_local_webhooks: bool = False,
    ) -> None:
        """``api_key`` is the default key, whose account starts with ``credits``; ``contract``
        replaces the bundled fixture (tests use it to show the sandbox follows its own); ``clock``
        replaces the service's monotonic time (tests move it: tasks progress, and keys stay in
        flight, only as far as they move it); ``allow_local_webhooks`` lets webhook endpoints point at plain http on
        a loopback address (local use and tests), which the real service refuses."""
        self.api_key = api_key
        self.faults = faults or Faults()
        self.state = SandboxState(
            api_key=api_key, credits=credits, timing=timing, task_failure_rate=task_failure_rate, seed=seed, contract=contract,
            clock=clock,
        )
        self.webhooks = Webhooks(self.state.lock, self.state.advance, lambda: self.url, allow_local=allow_local_webhooks)
        self.state.on_end = self.webhooks.task_ended
        handler = type("SandboxHandler", (_Handler,), {"sandbox": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host_port(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        """The base URL to give ``RivyaClient`` (no ``/api/v1``)."""
        return f"http://{self.host_port}"

    @property
    def journal(self) -> list[JournalEntry]:
        with self.state.lock:
            return list(self.state.journal)

    def start(self) -> Sandbox:
        self._thread = threading.Thread(target=self.serve_forever, name="rivya-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=STOP_POLL)

    def stop(self) -> None:
        self.webhooks.stop()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- knobs ----------------------------------------------------------------------------

    def add_key(self, key: str, *, status: str = "active", scopes: frozenset[str] | None = None, credits: int = 1000) -> None:
        """Teach the sandbox another key (e.g. revoked, or lacking a scope) with its own account.

        Each key is its own account: its own wallet of ``credits``, tasks, files and
        idempotency keys; another key's task or file is ``not_found``.
        """
        record = KeyRecord(status=status) if scopes is None else KeyRecord(status=status, scopes=scopes)
        self.state.add_key(key, record, credits)

    def set_credits(self, credits: int, *, key: str | None = None) -> None:
        """Fill or drain a key's wallet (the default key's when none is named)."""
        self.state.set_credits(credits, key)

    def balance(self, key: str | None = None) -> int:
        """A key's current credits (the default key's when none is named)."""
        return self.state.balance(key)

    def fail_next(self, count: int = 1) -> None:
        """The next ``count`` API requests get a 500."""
        with self.state.lock:
            self.faults.next_errors += count

    def rate_limit_next(self, count: int = 1, *, retry_after: float = 1.0) -> None:
        """The next ``count`` API requests get 429 ``rate_limited`` with ``Retry-After``."""
        with self.state.lock:
            self.faults.next_rate_limits += count
            self.faults.retry_after = retry_after

    def lose_next_creates(self, count: int = 1) -> None:
        """The next ``count`` creates make the task, then drop the connection unanswered."""
        with self.state.lock:
            self.faults.next_lost_creates += count

    def hold_next_creates(self, count: int = 1, *, seconds: float) -> None:
        """The next ``count`` creates are lost *in flight*: the task is made and charged, the
        connection drops unanswered, and for ``seconds`` the same Idempotency-Key and body get
        409 ``idempotency_conflict`` ("still being processed"); after that, a replay of the task."""
        with self.state.lock:
            self.faults.next_held_creates.extend([seconds] * count)

    def apply_request_faults(self, route: str) -> None:
        """Latency, a disabled API, 429s and 5xx, decided before the request is handled."""
        faults = self.faults
        if faults.latency:
            time.sleep(faults.latency)
        with self.state.lock:
            rng = self.state.random
            if faults.public_api_disabled and route != "models":
                raise ApiError(503, "public_api_disabled", "The Public API is temporarily switched off.")
            if faults.next_rate_limits > 0 or (faults.rate_limit_rate and rng.random() < faults.rate_limit_rate):
                faults.next_rate_limits = max(0, faults.next_rate_limits - 1)
                raise ApiError(
                    429,
                    "rate_limited",
                    "Too many requests in the current window.",
                    {"Retry-After": f"{faults.retry_after:g}"},
                )
            if faults.next_errors > 0 or (faults.error_rate and rng.random() < faults.error_rate):
                faults.next_errors = max(0, faults.next_errors - 1)
                raise ApiError(500, "internal_error", "The sandbox failed on purpose (fault drill).")

    def hold_for_create(self) -> float | None:
        """For a create that just made a task: None to answer it, else drop the reply and keep
        its key in flight for this many seconds (0: a replay is answered at once)."""
        faults = self.faults
        with self.state.lock:
            if faults.next_held_creates:
                return faults.next_held_creates.pop(0)
            if faults.next_lost_creates > 0:
                faults.next_lost_creates -= 1
                return faults.in_flight_seconds
            if faults.lost_create_rate and self.state.random.random() < faults.lost_create_rate:
                return faults.in_flight_seconds
            return None


__all__ = ["DEFAULT_SANDBOX_KEY", "Faults", "Sandbox", "Timing"]
