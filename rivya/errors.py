"""The exception hierarchy: one base, mapped from ``error.code`` first, HTTP status second."""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "IdempotencyConflictError",
    "InsufficientCreditsError",
    "InvalidInputError",
    "KeyNotHeldError",
    "MalformedResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RivyaError",
    "ServiceUnavailableError",
    "StorageError",
    "ValidationError",
    "WaitTimeoutError",
    "error_from_response",
]


class RivyaError(Exception):
    """Base of every error this package raises."""


class InvalidInputError(RivyaError, ValueError):
    """Input refused locally, before any request was sent. ``problems`` lists each one.

    ``code`` is the service's own code for the same refusal, so callers branch on
    ``error.code`` alike whether the request was refused here or by the service.
    """

    code = "validation_failed"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class KeyNotHeldError(RivyaError, KeyError):
    """A person's own key is no longer held by this server (it restarted, or the key was forgotten)."""

    def __str__(self) -> str:
        return "that personal key is no longer held by this server; paste it again"


class StorageError(RivyaError):
    """The app could not write its task log (disk full, read-only, locked).

    ``after_send`` is True when the create may already have reached the service: the job
    may exist and be charged, so the person must not press again.
    """

    def __init__(self, message: str, *, after_send: bool = False) -> None:
        self.after_send = after_send
        super().__init__(message)


class SpendLimitError(RivyaError):
    """A daily credit budget (the team's, or one person's) would be passed; refused before any request.

    ``whose`` is ``"team"`` or the person's display name; ``cost`` is the whole press (a batch is all or none).
    """

    def __init__(self, budget: int, used: int, cost: int, *, whose: str = "team") -> None:
        self.budget, self.used, self.cost, self.whose = budget, used, cost, whose
        super().__init__(f"{whose} daily budget {budget} credits: {used} used today, this needs {cost}")


class APIConnectionError(RivyaError):
    """The service could not be reached, or the connection dropped before a reply."""


class APITimeoutError(APIConnectionError):
    """The service did not answer in time."""


class APIStatusError(RivyaError):
    """The service answered with an error status and body ``{"error": {...}}``."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.request_id = request_id
        self.body = body
        # How many times the request had already been sent before this reply (0: the first try).
        self.retries = 0
        suffix = f" (request {request_id})" if request_id else ""
        super().__init__(f"{status_code} {code or 'error'}: {message}{suffix}")


class AuthenticationError(APIStatusError):
    """``api_key_missing``, ``api_key_invalid``, ``api_key_revoked``, ``api_key_expired``."""


class PermissionDeniedError(APIStatusError):
    """``api_scope_denied``: the key lacks a scope."""


class ValidationError(APIStatusError):
    """``validation_failed``: fix the request; retrying it unchanged cannot help."""


class WebhookUrlRejectedError(ValidationError):
    """``webhook_url_rejected``: the endpoint URL is not a public HTTPS address the service will call."""


class InsufficientCreditsError(APIStatusError):
    """``insufficient_credits``: the wallet is short."""


class IdempotencyConflictError(APIStatusError):
    """``idempotency_conflict``: the key was used with another body, or its first request is still in flight.

    The reference does not say which; only the caller knows whether this exact request was
    sent before, so ``jobs`` decides between "refused" and "outcome unknown".
    """


class RateLimitedError(APIStatusError):
    """``rate_limited``; ``retry_after`` is the server's requested pause in seconds, if sent."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class NotFoundError(APIStatusError):
    """``not_found``: no such task or file for this account."""


class ServiceUnavailableError(APIStatusError):
    """``public_api_disabled`` or any 5xx: try again later."""


class MalformedResponseError(APIStatusError):
    """A 2xx reply that is not JSON, or lacks what the call needs (a task ``id``, a file ``url``).

    For a create this means "outcome unknown": the service may have made the task.
    """


class WaitTimeoutError(RivyaError):
    """``wait()`` ran out of time. The task still exists and can be waited on again."""

    def __init__(self, task_id: str, last_status: str | None, timeout: float) -> None:
        self.task_id = task_id
        self.last_status = last_status
        self.timeout = timeout
        super().__init__(f"task {task_id} still {last_status or 'unknown'} after {timeout:g} s; it was not cancelled")


_BY_CODE: dict[str, type[APIStatusError]] = {
    "api_key_missing": AuthenticationError,
    "api_key_invalid": AuthenticationError,
    "api_key_revoked": AuthenticationError,
    "api_key_expired": AuthenticationError,
    "api_scope_denied": PermissionDeniedError,
    "validation_failed": ValidationError,
    "webhook_url_rejected": WebhookUrlRejectedError,
    "insufficient_credits": InsufficientCreditsError,
    "idempotency_conflict": IdempotencyConflictError,
    "rate_limited": RateLimitedError,
    "not_found": NotFoundError,
    "public_api_disabled": ServiceUnavailableError,
}

_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: ValidationError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: IdempotencyConflictError,
    429: RateLimitedError,
}


def error_from_response(status_code: int, body: Any, *, retry_after: float | None = None) -> APIStatusError:
    """Build the typed error for an HTTP error reply; the code is the contract, the status a fallback."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    request_id = error.get("requestId") or error.get("request_id")
    cls = _BY_CODE.get(code or "")
    if cls is None:
        cls = ServiceUnavailableError if status_code >= 500 else _BY_STATUS.get(status_code, APIStatusError)
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "code": code,
        "request_id": request_id if isinstance(request_id, str) else None,
        "body": body,
    }
    if cls is RateLimitedError:
        kwargs["retry_after"] = retry_after
    return cls(message or f"HTTP {status_code}", **kwargs)
