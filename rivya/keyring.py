"""The API keys the follower may act with: the shared key, and personal keys people paste for their session.

Personal keys live only here, in memory, never in the log; each is known by its owner id, a fingerprint.
A released key stays until no unfinished job of its owner is left, so its running jobs are still followed.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from .client import RivyaClient
from .errors import KeyNotHeldError
from .tasklog import SHARED_OWNER


class KeyRing:
    """Clients by key owner. Every client here makes one try per call: the follower retries on its own schedule."""

    def __init__(self, shared: RivyaClient) -> None:
        self.shared = shared
        self._clients: dict[str, RivyaClient] = {SHARED_OWNER: shared}
        self._released: set[str] = set()
        self._lock = threading.Lock()

    def register(self, api_key: str) -> str:
        """Keep a client for a personal key; returns its owner id (a fingerprint, not the key)."""
        owner = "personal-" + hashlib.sha256(f"imagine-studio:{api_key}".encode()).hexdigest()[:16]
        with self._lock:
            self._released.discard(owner)
            if owner not in self._clients:
                base = self.shared
                self._clients[owner] = RivyaClient(
                    api_key, base.base_url, timeout=base.timeout, max_retries=0, poll_schedule=base.poll_schedule
                )
        return owner

    def release(self, owner: str) -> None:
        """Mark a personal key to be forgotten once its owner's running jobs have finished (``drop_released``)."""
        if owner != SHARED_OWNER:
            with self._lock:
                self._released.add(owner)

    def client_for(self, owner: str) -> RivyaClient:
        """The client of a key held here; ``KeyNotHeldError`` once a personal key is gone."""
        with self._lock:
            client = self._clients.get(owner)
        if client is None:
            raise KeyNotHeldError(owner)
        return client

    def holds(self, owner: str) -> bool:
        with self._lock:
            return owner in self._clients

    def owners(self) -> list[str]:
        with self._lock:
            return list(self._clients)

    def drop_released(self, busy_owners: Callable[[], set[str]]) -> None:
        """Forget released keys whose owners have no unfinished job; ``busy_owners`` is read only while one waits."""
        with self._lock:
            released = set(self._released)
        if not released:
            return
        busy = busy_owners()
        with self._lock:
            for owner in released - busy:
                self._clients.pop(owner, None)
                self._released.discard(owner)

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            client.close()
