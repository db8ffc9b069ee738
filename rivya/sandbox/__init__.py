"""A local server that speaks Rivya Public API v1, for demos and tests without a key."""

from .contract import Contract, load_contract
from .server import DEFAULT_SANDBOX_KEY, Faults, Sandbox
from .state import FAIL_MARKER, JournalEntry, KeyRecord, Timing

__all__ = [
    "DEFAULT_SANDBOX_KEY",
    "FAIL_MARKER",
    "Contract",
    "Faults",
    "JournalEntry",
    "KeyRecord",
    "Sandbox",
    "Timing",
    "load_contract",
]
