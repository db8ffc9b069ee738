"""Imagine Studio's Rivya Public API v1 package: client, catalog, task log and sandbox."""

from .client import RivyaClient
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    IdempotencyConflictError,
    InsufficientCreditsError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RivyaError,
    ServiceUnavailableError,
    SpendLimitError,
    ValidationError,
    WaitTimeoutError,
)
from .resources import Credits, Generation, ModelInfo, UploadedFile
from .version import __version__

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "Credits",
    "Generation",
    "IdempotencyConflictError",
    "InsufficientCreditsError",
    "InvalidInputError",
    "ModelInfo",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RivyaClient",
    "RivyaError",
    "ServiceUnavailableError",
    "SpendLimitError",
    "UploadedFile",
    "ValidationError",
    "WaitTimeoutError",
    "__version__",
]
