"""Typed, frozen views of API replies. Each keeps the whole reply in ``raw``.

Replies are read tolerantly (reference section 13): unknown fields are ignored, the
undocumented field-name variants are accepted, and absent fields fall back to what we sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .status import JobStatus, normalize_status

log = logging.getLogger("rivya")


def parse_timestamp(value: Any) -> datetime | None:
    """ISO-8601 (``...Z`` included) to an aware datetime; anything else to ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _first(data: dict[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        value = data.get(name)
        if value is not None:
            return value
    return default


def is_web_url(value: Any) -> bool:
    """An absolute http(s) URL with a host. Anything else a reply calls a URL (a path, ``file:``, ``data:``) is refused."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value.strip())
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _web_urls(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list | tuple):
        return ()
    kept = tuple(u for u in values if is_web_url(u))
    if len(kept) < len(values):
        log.warning("rivya: ignored %d result link(s) that are not http(s)", len(values) - len(kept))
    return kept


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


@dataclass(frozen=True)
class Generation:
    """A task from ``POST /generations`` or ``GET /generations/{id}``."""

    id: str
    status: str
    model: str | None
    reserved_credits: int | None
    final_credits: int | None
    created_at: datetime | None
    updated_at: datetime | None
    primary_url: str | None
    urls: tuple[str, ...]
    error_code: str | None
    error_message: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_done(self) -> bool:
        """True once the task is ``succeeded`` or ``failed``; unknown statuses are not done."""
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @classmethod
    def from_json(cls, data: dict[str, Any], *, model: str | None = None) -> Generation:
        result = data.get("result") if isinstance(data.get("result"), dict) else {}
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        # Result links are strings the service sends; only absolute http(s) URLs are kept, so a
        # reply can never make the app open or serve a local path.
        urls = _web_urls(result.get("urls"))
        primary = _first(result, "primary_url", "primaryUrl")
        primary = primary if is_web_url(primary) else (urls[0] if urls else None)
        if primary and primary not in urls:
            urls = (primary, *urls)
        task_id = _first(data, "id", "task_id", "taskId", default="")
        return cls(
            id=str(task_id) if isinstance(task_id, str | int) and not isinstance(task_id, bool) else "",
            status=normalize_status(data.get("status")),
            model=data.get("model") or model,
            reserved_credits=_int_or_none(_first(data, "reserved_credits", "reservedCredits")),
            final_credits=_int_or_none(_first(data, "final_credits", "finalCredits")),
            created_at=parse_timestamp(_first(data, "created_at", "createdAt")),
            updated_at=parse_timestamp(_first(data, "updated_at", "updatedAt")),
            primary_url=primary,
            urls=urls,
            error_code=error.get("code") if isinstance(error.get("code"), str) else None,
            error_message=error.get("message") if isinstance(error.get("message"), str) else None,
            raw=data,
        )


@dataclass(frozen=True)
class UploadedFile:
    """A reference file from ``POST /files`` (the undocumented ``PublicApiFile``)."""

    id: str | None
    url: str
    kind: str
    name: str | None
    mime_type: str | None
    size: int | None
    duration_token: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    def as_reference_item(self) -> dict[str, Any]:
        """The ``params.referenceMediaItems`` entry for this file (camelCase, as documented)."""
        item: dict[str, Any] = {"url": self.url, "kind": self.kind}
        if self.name:
            item["name"] = self.name
        if self.mime_type:
            item["mimeType"] = self.mime_type
        if self.duration_token:
            item["durationToken"] = self.duration_token
        return item

    @classmethod
    def from_json(
        cls,
        data: dict[str, Any],
        *,
        kind: str | None = None,
        name: str | None = None,
        mime_type: str | None = None,
        size: int | None = None,
    ) -> UploadedFile:
        # The PublicApiFile shape is not documented: accept a bare object or one wrapped in
        # ``file`` or ``data``, and the URL under any of its likely names.
        inner = next((data[k] for k in ("file", "data") if isinstance(data.get(k), dict)), data)
        return cls(
            id=_first(inner, "id", "file_id", "fileId"),
            url=str(_first(inner, "url", "file_url", "fileUrl", "public_url", "publicUrl", default="")),
            kind=str(_first(inner, "kind", default=kind or "image")),
            name=_first(inner, "name", "filename", "file_name", "original_name", default=name),
            mime_type=_first(inner, "mime_type", "mimeType", "content_type", "contentType", default=mime_type),
            size=_int_or_none(_first(inner, "size", "size_bytes", "sizeBytes", "bytes", default=size)),
            duration_token=_first(inner, "duration_token", "durationToken"),
            raw=data,
        )


@dataclass(frozen=True)
class Credits:
    """The wallet from ``GET /credits``. ``current_credits`` is None when the reply did not say.

    An unknown balance is never read as 0: that would refuse every job for no reason; the
    service itself refuses a job the wallet cannot pay for.
    """

    current_credits: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Credits:
        inner = data.get("data") if isinstance(data.get("data"), dict) else data
        return cls(current_credits=_int_or_none(_first(inner, "current_credits", "currentCredits", "credits")), raw=data)


@dataclass(frozen=True)
class ModelInfo:
    """One entry of the public catalog from ``GET /models``."""

    id: str
    display_name: str
    category: str | None
    base_credits: int | None
    max_prompt_length: int | None
    api_status: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        model_id = str(data.get("id", ""))
        return cls(
            id=model_id,
            display_name=str(data.get("display_name") or model_id),
            category=data.get("category"),
            base_credits=_int_or_none(data.get("base_credits")),
            max_prompt_length=_int_or_none(data.get("max_prompt_length")),
            api_status=data.get("api_status"),
            raw=data,
        )


# The event types the reference names (section 10): a generation reaching either end.
WEBHOOK_EVENT_TYPES = ("generation.succeeded", "generation.failed")


@dataclass(frozen=True)
class WebhookEndpoint:
    """A webhook endpoint (reference section 10); ``signing_secret`` is set only in the replies that return it
    (create and rotate-secret), and is kept out of ``repr`` so it never reaches a log."""

    id: str
    url: str
    status: str = ""
    event_types: tuple[str, ...] = ()
    signing_secret: str | None = field(default=None, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WebhookEndpoint:
        secret = data.get("signing_secret")
        types = data.get("event_types")
        return cls(
            id=str(data.get("id") or ""),
            url=str(data.get("url") or ""),
            status=str(data.get("status") or ""),
            event_types=tuple(t for t in types if isinstance(t, str)) if isinstance(types, list) else (),
            signing_secret=secret if isinstance(secret, str) and secret else None,
            # The secret stays out of the kept reply too: ``raw`` is shown by tools that print objects.
            raw={k: v for k, v in data.items() if k != "signing_secret"},
        )
