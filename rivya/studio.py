"""The app's server-side parts assembled once per process: backend, client, log, follower."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .catalog import get_model
from .client import RivyaClient
from .config import Settings
from .jobs import JobService, Reference
from .ledger import LedgerView
from .media import inspect_image
from .sandbox import Sandbox
from .tasklog import SHARED_OWNER, TaskLog

SANDBOX_BACKEND = "sandbox"
BALANCE_TTL = 10.0


@dataclass
class Studio:
    """Everything a page needs. Shared by every session of the server, so it holds no per-user state."""

    settings: Settings
    client: RivyaClient
    log: TaskLog
    jobs: JobService
    ledger: LedgerView
    sandbox: Sandbox | None = None
    _balances: dict[str, tuple[float, int]] = field(default_factory=dict, repr=False)
    _references: dict[tuple[str, str, str], Reference] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, settings: Settings, *, follow: bool = True) -> Studio:
        """Start the sandbox when no key is set, open the log, start the follower."""
        sandbox = None
        if settings.uses_sandbox:
            sandbox = Sandbox(host="127.0.0.1", port=0).start()
            client = RivyaClient(sandbox.api_key, sandbox.url)
            backend = SANDBOX_BACKEND
        else:
            client = RivyaClient(settings.api_key, settings.base_url)
            backend = settings.base_url
        tasklog = TaskLog(settings.data_dir / "tasklog.sqlite3")
        jobs = JobService(client, tasklog, settings.data_dir / "media", backend=backend)
        ledger = LedgerView(tasklog)
        if follow:
            jobs.start()
            # Reading a big log takes a moment; do it now so the History page never waits.
            threading.Thread(target=ledger.frame, name="rivya-ledger-warmup", daemon=True).start()
        return cls(settings=settings, client=client, log=tasklog, jobs=jobs, ledger=ledger, sandbox=sandbox)

    @property
    def backend_label(self) -> str:
        return "Local sandbox (demo)" if self.sandbox else self.settings.base_url

    def balance(self, owner: str = SHARED_OWNER, *, fresh: bool = False) -> int:
        """The wallet of a key, cached for a few seconds: every rerun of every page shows it."""
        now = time.monotonic()
        cached = self._balances.get(owner)
        if not fresh and cached and now - cached[0] < BALANCE_TTL:
            return cached[1]
        credits = self.jobs.client_for(owner).get_credits().current_credits
        self._balances[owner] = (now, credits)
        return credits

    def forget_balance(self, owner: str = SHARED_OWNER) -> None:
        self._balances.pop(owner, None)

    def used_today(self) -> int:
        """Credits the whole app spent or holds today (UTC), as the spend guard counts them."""
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.log.committed_credits_since(midnight.isoformat(timespec="milliseconds"))

    def prepare_reference(self, data: bytes, name: str, model: str, owner: str = SHARED_OWNER) -> Reference:
        """Check by content, keep a local copy, upload once per (content, model, key owner)."""
        rule = get_model(model).reference
        info = inspect_image(data, rule, name=name)
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            cached = self._references.get((digest, model, owner))
        if cached:
            return cached
        local = self.settings.data_dir / "references" / f"{digest[:32]}{info.extension}"
        local.parent.mkdir(parents=True, exist_ok=True)
        if not local.exists():
            local.write_bytes(data)
        uploaded = self.jobs.client_for(owner).upload_file(
            data, kind="image", model=model, filename=name, mime_type=info.mime_type, client_request_id=f"ref-{digest[:24]}"
        )
        reference = Reference(local_path=str(local), uploaded=uploaded)
        with self._lock:
            self._references[(digest, model, owner)] = reference
        return reference

    def close(self) -> None:
        self.jobs.stop()
        self.client.close()
        self.log.close()
        if self.sandbox:
            self.sandbox.stop()
