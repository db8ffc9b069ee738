"""``RivyaClient``: one method per endpoint of Rivya Public API v1, plus ``wait()``."""

from __future__ import annotations

import email.utils
import json
import logging
import math
import mimetypes
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import IO, Any

import requests

from . import constants
from .backoff import Backoff
from .catalog import MODELS, validate
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    InvalidInputError,
    MalformedResponseError,
    RateLimitedError,
    ServiceUnavailableError,
    WaitTimeoutError,
    error_from_response,
)
from .polling import PollSchedule
from .resources import WEBHOOK_EVENT_TYPES, Credits, Generation, ModelInfo, UploadedFile, WebhookEndpoint, is_web_url
from .sniffing import sniff_head
from .version import __version__

log = logging.getLogger("rivya")

# The client's own retries: 0.5, 1, 2 … ``RETRY_MAX_DELAY`` s, each drawn between half and the whole.
RETRY_BACKOFF = Backoff(constants.RETRY_BASE_DELAY, constants.RETRY_MAX_DELAY, jitter=constants.RETRY_JITTER)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, from either of its forms (seconds or an HTTP date).

    Clamped to ``0 .. RETRY_AFTER_MAX``: ``inf``, ``nan``, negative numbers and dates in the
    past can never freeze polling or turn into a tight loop.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT even when the zone is missing
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), constants.RETRY_AFTER_MAX)


def _guess_mime(data: bytes, filename: str) -> str:
    """The type an upload is declared as: what its bytes are (as the service sniffs them), else what its name says."""
    return sniff_head(data) or mimetypes.guess_type(filename)[0] or "application/octet-stream"


class RivyaClient:
    """A thin, typed client. The key stays on this object and in request headers only.

    Usable as a context manager. ``requests.Session`` is not documented thread-safe, so each
    thread gets its own session (the follower polls from several threads at once).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | tuple[float, float] | None = None,
        max_retries: int = constants.DEFAULT_MAX_RETRIES,
        poll_schedule: PollSchedule | None = None,
    ) -> None:
        self._api_key = api_key if api_key is not None else os.environ.get("RIVYA_API_KEY") or None
        if self._api_key and not (self._api_key.isascii() and self._api_key.isprintable() and " " not in self._api_key):
            # It goes into an HTTP header; say so plainly (without echoing it) instead of failing deep in http.client.
            raise InvalidInputError(["An API key is plain letters, digits and underscores; this one has other characters."])
        self.base_url = (base_url or os.environ.get("RIVYA_BASE_URL") or constants.DEFAULT_BASE_URL).rstrip("/")
        if isinstance(timeout, (int, float)):
            timeout = (min(float(timeout), constants.CONNECT_TIMEOUT), float(timeout))
        self.timeout: tuple[float, float] = timeout or (constants.CONNECT_TIMEOUT, constants.READ_TIMEOUT)
        self.max_retries = max(0, int(max_retries))
        self.poll_schedule = poll_schedule or PollSchedule()
        self._local = threading.local()
        # Weak: a session dies with its thread (Streamlit runs each rerun in a new thread).
        self._sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()
        self._sessions_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RivyaClient(base_url={self.base_url!r}, api_key={'<set>' if self._api_key else '<unset>'})"

    @property
    def has_key(self) -> bool:
        return bool(self._api_key)

    @property
    def session(self) -> requests.Session:
        """This thread's session for API calls. The key is added per request, never to the session."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = f"imagine-studio-rivya/{__version__} python-requests/{requests.__version__}"
            self._local.session = session
            with self._sessions_lock:
                self._sessions.add(session)
        return session

    def with_options(
        self, *, max_retries: int | None = None, timeout: float | tuple[float, float] | None = None
    ) -> RivyaClient:
        """A copy with other retry or timeout settings, for the same key and host."""
        return RivyaClient(
            self._api_key,
            self.base_url,
            timeout=timeout or self.timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            poll_schedule=self.poll_schedule,
        )

    def close(self) -> None:
        with self._sessions_lock:
            sessions = list(self._sessions)
            self._sessions.clear()
        for session in sessions:
            session.close()

    def __enter__(self) -> RivyaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints ---------------------------------------------------------------------

    def list_models(self) -> list[ModelInfo]:
        """``GET /api/v1/models`` (public, no key needed)."""
        body = self._request("GET", "/models", auth=False)
        data = body.get("data") if isinstance(body, dict) else None
        return [ModelInfo.from_json(m) for m in data or [] if isinstance(m, dict)]

    def create_generation(
        self,
        model: str,
        prompt: str,
        params: dict[str, Any] | None = None,
        *,
        client_request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Generation:
        """``POST /api/v1/generations``. Catalog models are validated before sending.

        Raises ``InvalidInputError`` (nothing sent), or ``APIStatusError`` subclasses. One
        ``Idempotency-Key`` per call, made here when not given, is reused on every retry
        together with the byte-identical body, so a retry can never make a second task.
        ``MalformedResponseError`` for a 2xx without a task id: the task may exist.
        """
        if model in MODELS:
            problems = validate(model, prompt, params)
            if problems:
                raise InvalidInputError(problems)
            unknown = sorted(set(params or {}) - set(MODELS[model].known_keys()))
            if unknown:
                # v1 may add optional params; pass them through and let the service decide.
                log.warning("rivya: %s: sending parameter(s) the catalog does not know: %s", model, ", ".join(unknown))
        body: dict[str, Any] = {"model": model, "prompt": prompt}
        if params:
            body["params"] = params
        if client_request_id:
            body["client_request_id"] = client_request_id
        key = idempotency_key or f"rivya-{uuid.uuid4().hex}"
        try:
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidInputError([f"The request cannot be sent as JSON: {exc}."]) from None
        reply = self._request(
            "POST",
            "/generations",
            data=payload,
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        generation = Generation.from_json(reply, model=model) if isinstance(reply, dict) else None
        if generation is None or not generation.id:
            raise MalformedResponseError("the service accepted the job but its reply names no task id", status_code=200,
                                         body=str(reply)[:300])
        return generation

    def get_generation(self, task_id: str) -> Generation:
        """``GET /api/v1/generations/{taskId}``; ``NotFoundError`` for another account's task."""
        reply = self._request("GET", f"/generations/{_path_id(task_id)}")
        if not isinstance(reply, dict):
            raise MalformedResponseError("the task's status reply is not an object", status_code=200, body=str(reply)[:300])
        return Generation.from_json(reply)

    def upload_file(
        self,
        file: str | Path | bytes | IO[bytes],
        *,
        kind: str = "image",
        model: str | None = None,
        filename: str | None = None,
        mime_type: str | None = None,
        client_request_id: str | None = None,
    ) -> UploadedFile:
        """``POST /api/v1/files`` (multipart). The whole file is read once and resent on retry."""
        if isinstance(file, (str, Path)):
            path = Path(file)
            data = path.read_bytes()
            filename = filename or path.name
        elif isinstance(file, (bytes, bytearray, memoryview)):
            data = bytes(file)
        else:
            data = file.read()
            filename = filename or Path(getattr(file, "name", "") or "upload").name
        filename = filename or "upload"
        mime_type = mime_type or _guess_mime(data, filename)
        if client_request_id and len(client_request_id) > constants.MAX_CLIENT_REQUEST_ID:
            raise InvalidInputError([f"client_request_id may be at most {constants.MAX_CLIENT_REQUEST_ID} characters."])
        form = {"kind": kind}
        if model:
            form["model"] = model
        if client_request_id:
            form["client_request_id"] = client_request_id
        reply = self._request(
            "POST",
            "/files",
            files={"file": (filename, data, mime_type)},
            form=form,
            timeout=(self.timeout[0], constants.UPLOAD_READ_TIMEOUT),
        )
        uploaded = UploadedFile.from_json(reply, kind=kind, name=filename, mime_type=mime_type, size=len(data)) \
            if isinstance(reply, dict) else None
        if uploaded is None or not is_web_url(uploaded.url):
            raise MalformedResponseError(
                "the service stored the file but its reply has no usable file URL to reference it by",
                status_code=200, body=str(reply)[:300],
            )
        return uploaded

    def get_file(self, file_id: str) -> UploadedFile:
        """``GET /api/v1/files/{fileId}``: metadata of a file this account uploaded."""
        return UploadedFile.from_json(self._request("GET", f"/files/{_path_id(file_id)}"))

    def get_credits(self) -> Credits:
        """``GET /api/v1/credits``: the wallet shared with Rivya Studio (balance None when not sent)."""
        reply = self._request("GET", "/credits")
        return Credits.from_json(reply if isinstance(reply, dict) else {})

    # -- webhooks (reference section 10; scope webhooks:manage) -------------------------

    def list_webhooks(self) -> list[WebhookEndpoint]:
        """``GET /api/v1/webhooks``: this account's endpoints (never with their secrets)."""
        reply = self._request("GET", "/webhooks")
        data = reply.get("data") if isinstance(reply, dict) else reply
        return [WebhookEndpoint.from_json(e) for e in data or [] if isinstance(e, dict)]

    def create_webhook(self, url: str, *, name: str, event_types: tuple[str, ...] = WEBHOOK_EVENT_TYPES) -> WebhookEndpoint:
        """``POST /api/v1/webhooks``; the one reply carrying ``signing_secret``. ``WebhookUrlRejectedError`` for a URL
        the service will not call. Not retried: a lost reply would leave an endpoint whose secret nobody saw."""
        reply = self._json("POST", "/webhooks", {"name": name, "url": url, "event_types": list(event_types)}, retry=False)
        return self._endpoint(reply)

    def get_webhook(self, endpoint_id: str) -> WebhookEndpoint:
        """``GET /api/v1/webhooks/{endpointId}``."""
        return self._endpoint(self._request("GET", f"/webhooks/{_path_id(endpoint_id)}"))

    def update_webhook(self, endpoint_id: str, **fields: Any) -> WebhookEndpoint:
        """``PATCH /api/v1/webhooks/{endpointId}`` with the fields given (``name``, ``url``, ``event_types``)."""
        return self._endpoint(self._json("PATCH", f"/webhooks/{_path_id(endpoint_id)}", fields))

    def delete_webhook(self, endpoint_id: str) -> None:
        """``DELETE /api/v1/webhooks/{endpointId}``."""
        self._request("DELETE", f"/webhooks/{_path_id(endpoint_id)}")

    def rotate_webhook_secret(self, endpoint_id: str) -> WebhookEndpoint:
        """``POST /api/v1/webhooks/{endpointId}/rotate-secret``: a new ``signing_secret``, returned this once.
        Not retried: a second rotation would void the secret the first one returned."""
        return self._endpoint(self._json("POST", f"/webhooks/{_path_id(endpoint_id)}/rotate-secret", {}, retry=False))

    def webhook_deliveries(self, endpoint_id: str) -> list[dict[str, Any]]:
        """``GET /api/v1/webhooks/{endpointId}/deliveries`` (shape not documented: the list's items as sent)."""
        return _items(self._request("GET", f"/webhooks/{_path_id(endpoint_id)}/deliveries"))

    def test_webhook(self, endpoint_id: str) -> dict[str, Any]:
        """``POST /api/v1/webhooks/{endpointId}/test``: ask for a test event (reply shape not documented)."""
        reply = self._json("POST", f"/webhooks/{_path_id(endpoint_id)}/test", {})
        return reply if isinstance(reply, dict) else {}

    def webhook_events(self) -> list[dict[str, Any]]:
        """``GET /api/v1/webhook-events`` (shape not documented: the list's items as sent)."""
        return _items(self._request("GET", "/webhook-events"))

    def _json(self, method: str, path: str, body: dict[str, Any], *, retry: bool = True) -> Any:
        payload = json.dumps(body, separators=(",", ":")).encode()
        client = self if retry or not self.max_retries else self.with_options(max_retries=0)
        return client._request(method, path, data=payload, headers={"Content-Type": "application/json"})

    @staticmethod
    def _endpoint(reply: Any) -> WebhookEndpoint:
        endpoint = WebhookEndpoint.from_json(reply) if isinstance(reply, dict) else None
        if endpoint is None or not endpoint.id:
            raise MalformedResponseError("the webhook endpoint reply names no endpoint id", status_code=200,
                                         body="(not shown: it may hold a signing secret)")
        return endpoint

    # -- waiting ------------------------------------------------------------------------

    def wait(
        self,
        task_id: str,
        *,
        timeout: float = constants.DEFAULT_WAIT_TIMEOUT,
        on_update: Callable[[Generation], None] | None = None,
    ) -> Generation:
        """Poll until ``succeeded`` or ``failed`` and return the final task (failed included).

        Follows the documented cadence; rate limits, 5xx and dropped connections only slow
        it down. ``WaitTimeoutError`` after ``timeout`` seconds; the task is not cancelled.
        """
        deadline = time.monotonic() + timeout
        last: Generation | None = None
        polls = 0
        category: str | None = None
        while True:
            delay = self.poll_schedule.delay(polls, category=category)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeoutError(task_id, last.status if last else None, timeout)
            time.sleep(min(delay, remaining))
            polls += 1
            try:
                current = self.get_generation(task_id)
            except (RateLimitedError, ServiceUnavailableError, APIConnectionError) as exc:
                pause = getattr(exc, "retry_after", None)
                log.info("rivya: polling %s paused after %s", task_id, type(exc).__name__)
                if pause:
                    time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                continue
            if current.model in MODELS:
                category = MODELS[current.model].category
            if on_update and (last is None or current.status != last.status):
                on_update(current)
            last = current
            if current.is_done:
                return current

    # -- transport ----------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        data: bytes | None = None,
        files: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> Any:
        """Send one logical request with retries; return the decoded JSON body."""
        url = f"{self.base_url}{constants.API_PREFIX}{path}"
        request_headers = {"Accept": "application/json", **(headers or {})}
        if auth and self._api_key:
            request_headers["Authorization"] = f"Bearer {self._api_key}"
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method,
                    url,
                    data=form if files else data,
                    files=files,
                    headers=request_headers,
                    timeout=timeout or self.timeout,
                )
            except requests.Timeout:
                error: Exception = APITimeoutError(f"{method} {path}: no answer from {self.base_url} in time")
            except requests.RequestException as exc:
                error = APIConnectionError(f"{method} {path}: could not reach {self.base_url} ({type(exc).__name__})")
            else:
                log.debug("rivya: %s %s -> %s (attempt %d)", method, path, response.status_code, attempt + 1)
                if response.status_code < 300:
                    return _decode(response)
                error = error_from_response(
                    response.status_code,
                    _decode(response, strict=False),
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
                error.retries = attempt
            wait_for = self._retry_delay(error, attempt)
            if wait_for is None:
                raise error
            log.info("rivya: %s %s failed (%s); retry %d in %.1fs", method, path, type(error).__name__, attempt + 1, wait_for)
            time.sleep(wait_for)
            attempt += 1

    def _retry_delay(self, error: Exception, attempt: int) -> float | None:
        """Seconds before the next try, or ``None`` when this error must not be retried."""
        if attempt >= self.max_retries:
            return None
        if isinstance(error, APIStatusError):
            retryable = isinstance(error, RateLimitedError) or error.status_code >= 500
            if not retryable:
                return None
            retry_after = getattr(error, "retry_after", None)
            if retry_after is not None:
                return retry_after if retry_after <= constants.RETRY_AFTER_CAP else None
        return RETRY_BACKOFF.delay(attempt)


def _items(reply: Any) -> list[dict[str, Any]]:
    """A list reply's items, whether sent as ``{"data": [...]}`` or a bare list."""
    data = reply.get("data") if isinstance(reply, dict) else reply
    return [item for item in data or [] if isinstance(item, dict)] if isinstance(data, list) else []


def _path_id(value: str) -> str:
    """Refuse ids that would change the path; the service's ids never hold these."""
    if not value or any(c in value for c in "/?#%\\ ") or value in (".", ".."):
        raise InvalidInputError([f"{value!r} is not a valid id."])
    return value


def _decode(response: requests.Response, *, strict: bool = True) -> Any:
    try:
        return response.json()
    except ValueError:
        if strict:
            raise MalformedResponseError(
                "the service sent a reply that is not JSON",
                status_code=response.status_code,
                body=response.text[:500],
            ) from None
        # An HTML page from a proxy or load balancer: say where it came from, never show its markup.
        return {"error": {"message": f"HTTP {response.status_code} {response.reason or ''} (not a Rivya API reply)".strip()}}
