"""The sandbox's webhooks (reference section 10): endpoints, a signing secret shown once, deliveries with retries.

The reference leaves the signature scheme, the retry schedule, the test event and the deliveries' shapes open; the
sandbox's own choices are written where it makes them. The app's receiver (``rivya.webhooks``) is written apart
from this file on purpose, so a test of the two together shows they agree rather than assuming it.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .state import ApiError, Task, iso_now

EVENT_TYPES = ("generation.succeeded", "generation.failed")
# Not documented: the sandbox names its test event so, and sends it to one endpoint whatever its event types.
TEST_EVENT_TYPE = "webhook.test"
API_VERSION = "2026-05-11"
# Not documented: the header and scheme. The sandbox signs like the common providers do: the Unix time and an
# HMAC-SHA256 of "<time>.<raw body>" keyed with the whole ``whsec_`` secret, as ``t=<time>,v1=<hex>``.
SIGNATURE_HEADER = "Rivya-Signature"
# Not documented: the retry schedule. The sandbox tries at once, then after each of these seconds, then gives up.
RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0)
# "short timeout" (section 10): seconds for one delivery's connect and answer.
DELIVERY_TIMEOUT = 5.0
# How often the delivery thread looks for tasks that finished with nobody polling them.
TICK = 0.05


def sign(secret: str, body: bytes, at: int) -> str:
    """The sandbox's signature header value for ``body`` sent at Unix time ``at``."""
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def url_problem(url: Any, *, allow_local: bool) -> str | None:
    """Why the service would refuse this endpoint URL (``webhook_url_rejected``), or None.

    ``allow_local`` is the sandbox's switch for local use and tests: plain http to a loopback address. Hosts are
    judged by name and literal address only; the real service may also resolve names (the sandbox does not, so a
    name that resolves to a private address passes here).
    """
    if not isinstance(url, str) or not url:
        return "url must be an absolute https URL."
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        return "The webhook URL must not contain credentials."
    if parts.fragment or url.endswith("#"):
        return "The webhook URL must not contain a fragment."
    if not host:
        return "url must be an absolute https URL."
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    local = host == "localhost" or host.endswith(".localhost") or (address is not None and address.is_loopback)
    if allow_local and local and parts.scheme in ("http", "https"):
        return None
    if parts.scheme != "https":
        return "The webhook URL must use HTTPS."
    if local:
        return "The webhook URL must not point to localhost."
    if address is not None and (address.is_private or address.is_reserved or address.is_link_local
                                or address.is_multicast or address.is_unspecified):
        return "The webhook URL must not point to a private, local-network or reserved address."
    return None


@dataclass
class Endpoint:
    id: str
    owner: str = field(repr=False)
    name: str
    url: str
    event_types: list[str]
    secret: str = field(repr=False)
    created_at: str
    updated_at: str
    status: str = "active"
    last_success_at: str | None = None
    last_failure_at: str | None = None
    failure_count: int = 0

    def body(self, *, with_secret: bool = False) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "id": self.id, "object": "webhook_endpoint", "name": self.name, "url": self.url,
            "event_types": list(self.event_types), "status": self.status,
            "secret_preview": f"{self.secret[:8]}...{self.secret[-6:]}",
            "last_success_at": self.last_success_at, "last_failure_at": self.last_failure_at,
            "failure_count": self.failure_count, "created_at": self.created_at, "updated_at": self.updated_at,
            "disabled_at": None, "revoked_at": None,
        }
        if with_secret:
            reply["signing_secret"] = self.secret
        return reply


@dataclass
class _Pending:
    due: float
    endpoint_id: str
    event: dict[str, Any]
    attempt: int = 1


class Webhooks:
    """Endpoints per account, the events made, and a thread delivering them (started with the first endpoint)."""

    def __init__(self, lock: threading.RLock, advance: Callable[[], None], media_base: Callable[[], str], *,
                 allow_local: bool = False, retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self.lock = lock
        self.advance = advance
        self.media_base = media_base
        self.allow_local = allow_local
        self.retry_delays = retry_delays
        # Deliveries go nowhere while paused (a fault knob): attempts fail as if the receiver were down.
        self.paused = False
        self.endpoints: dict[str, Endpoint] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []  # (owner, event)
        self.deliveries: list[dict[str, Any]] = []
        self._queue: list[_Pending] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- management (called under the state's lock by the server) ------------------------

    def _own(self, owner: str, endpoint_id: str) -> Endpoint:
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None or endpoint.owner != owner:
            raise ApiError(404, "not_found", "No webhook endpoint with this ID exists for this account.")
        return endpoint

    def _check(self, body: Any, *, partial: bool) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "validation_failed", "The request body must be a JSON object.")
        if "url" in body or not partial:
            problem = url_problem(body.get("url"), allow_local=self.allow_local)
            if problem:
                raise ApiError(400, "webhook_url_rejected", problem)
        types = body.get("event_types", None if partial else list(EVENT_TYPES))
        if types is not None and (not isinstance(types, list) or not types or any(t not in EVENT_TYPES for t in types)):
            raise ApiError(400, "validation_failed", f"event_types takes a list of {', '.join(EVENT_TYPES)}.")
        name = body.get("name", None if partial else "")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise ApiError(400, "validation_failed", "name must be a string of at most 200 characters.")
        return {k: v for k, v in (("url", body.get("url")), ("event_types", types), ("name", name)) if v is not None}

    def create(self, owner: str, body: Any) -> dict[str, Any]:
        fields = self._check(body, partial=False)
        now = iso_now()
        endpoint = Endpoint(id=f"whend_{secrets.token_hex(10)}", owner=owner, name=fields.get("name", ""),
                            url=fields["url"], event_types=fields["event_types"], secret=_new_secret(),
                            created_at=now, updated_at=now)
        with self.lock:
            self.endpoints[endpoint.id] = endpoint
        self._start()
        return endpoint.body(with_secret=True)

    def listed(self, owner: str) -> dict[str, Any]:
        with self.lock:
            return {"object": "list", "data": [e.body() for e in self.endpoints.values() if e.owner == owner]}

    def get(self, owner: str, endpoint_id: str) -> dict[str, Any]:
        with self.lock:
            return self._own(owner, endpoint_id).body()

    def update(self, owner: str, endpoint_id: str, body: Any) -> dict[str, Any]:
        fields = self._check(body, partial=True)
        with self.lock:
            endpoint = self._own(owner, endpoint_id)
            for key, value in fields.items():
                setattr(endpoint, key, value)
            endpoint.updated_at = iso_now()
            return endpoint.body()

    def delete(self, owner: str, endpoint_id: str) -> dict[str, Any]:
        with self.lock:
            self._own(owner, endpoint_id)
            del self.endpoints[endpoint_id]
            return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}

    def rotate(self, owner: str, endpoint_id: str) -> dict[str, Any]:
        """A new secret, returned this once; the old one stops signing at once (not documented: no overlap)."""
        with self.lock:
            endpoint = self._own(owner, endpoint_id)
            endpoint.secret = _new_secret()
            endpoint.updated_at = iso_now()
            return endpoint.body(with_secret=True)

    def delivery_list(self, owner: str, endpoint_id: str) -> dict[str, Any]:
        with self.lock:
            self._own(owner, endpoint_id)
            return {"object": "list", "data": [d for d in reversed(self.deliveries) if d["endpoint_id"] == endpoint_id]}

    def event_list(self, owner: str) -> dict[str, Any]:
        with self.lock:
            return {"object": "list", "data": [e for o, e in reversed(self.events) if o == owner]}

    def test(self, owner: str, endpoint_id: str) -> dict[str, Any]:
        with self.lock:
            self._own(owner, endpoint_id)
            event = _event(TEST_EVENT_TYPE, {"endpoint_id": endpoint_id})
            self.events.append((owner, event))
            self._queue.append(_Pending(time.monotonic(), endpoint_id, event))
        self._wake.set()
        return {"object": "webhook_event", "id": event["id"], "type": TEST_EVENT_TYPE, "queued": True}

    # -- events and deliveries ----------------------------------------------------------

    def task_ended(self, task: Task) -> None:
        """Called under the state's lock the moment a task reaches its end: one event per listening endpoint."""
        kind = f"generation.{task.status}"
        targets = [e for e in self.endpoints.values() if e.owner == task.owner and kind in e.event_types]
        if not targets:
            return
        event = _event(kind, task.body(self.media_base()))
        self.events.append((task.owner, event))
        now = time.monotonic()
        self._queue.extend(_Pending(now, e.id, event) for e in targets)
        self._wake.set()

    def _start(self) -> None:
        with self.lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="rivya-sandbox-hooks", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=DELIVERY_TIMEOUT + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(TICK)
            self._wake.clear()
            self.advance()  # tasks that finished with nobody polling them make their events now
            now = time.monotonic()
            with self.lock:
                due = [p for p in self._queue if p.due <= now]
                self._queue = [p for p in self._queue if p.due > now]
            for pending in due:
                # One at a time, in order; each delivery is bounded by DELIVERY_TIMEOUT.
                self._deliver(pending)

    def _deliver(self, pending: _Pending) -> None:
        with self.lock:
            endpoint = self.endpoints.get(pending.endpoint_id)
            if endpoint is None:
                return
            url, secret = endpoint.url, endpoint.secret
        body = json.dumps(pending.event, separators=(",", ":")).encode()
        status, error = _post(url, body, sign(secret, body, int(time.time()))) if not self.paused else (None, "paused")
        ok = status is not None and 200 <= status < 300
        with self.lock:
            self.deliveries.append({
                "id": f"whdel_{secrets.token_hex(8)}", "object": "webhook_delivery", "endpoint_id": pending.endpoint_id,
                "event_id": pending.event["id"], "event_type": pending.event["type"], "attempt": pending.attempt,
                "status": "succeeded" if ok else "failed", "response_status": status, "error": error,
                "created_at": iso_now(),
            })
            if endpoint.id not in self.endpoints:
                return
            if ok:
                endpoint.last_success_at, endpoint.failure_count = iso_now(), 0
            else:
                endpoint.last_failure_at = iso_now()
                endpoint.failure_count += 1
                if pending.attempt <= len(self.retry_delays):
                    delay = self.retry_delays[pending.attempt - 1]
                    self._queue.append(_Pending(time.monotonic() + delay, pending.endpoint_id, pending.event,
                                                pending.attempt + 1))


def _new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def _event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The documented envelope; the reference cuts it off after ``created_at``: the sandbox puts the object in ``data``."""
    return {"id": f"evt_{secrets.token_hex(12)}", "type": kind, "api_version": API_VERSION, "created_at": iso_now(),
            "data": data}


def _post(url: str, body: bytes, signature: str) -> tuple[int | None, str | None]:
    """One delivery: POST, JSON, no redirects followed (a 3xx is a failure), a short timeout."""
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = kind(parts.hostname or "", parts.port, timeout=DELIVERY_TIMEOUT)
    try:
        connection.request("POST", path, body=body, headers={
            "Content-Type": "application/json", SIGNATURE_HEADER: signature, "User-Agent": "RivyaSandbox-Webhooks/1"})
        response = connection.getresponse()
        response.read(65536)
        return response.status, None
    except (OSError, http.client.HTTPException) as exc:
        return None, type(exc).__name__
    finally:
        connection.close()
