"""The app's server-side parts assembled once per process: backend, client, log, follower.

``open_shared`` keeps one ``Studio`` per configuration for the whole process, in a plain
module-level registry: not in a Streamlit cache, which any browser can clear (a clear would
reset the password back-off and start a second follower beside the first). Across processes
on one SQLite log, a lock file in the data folder lets only one of them run the follower; on a
PostgreSQL log every replica runs one, and the log's leases give each job to exactly one.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from . import presses
from .access import PasswordGate
from .budgets import day_start
from .catalog import get_model
from .client import RivyaClient
from .config import Settings
from .constants import BALANCE_TTL, STANDBY_RETRY
from .errors import StorageError
from .hook_setup import Webhooks
from .jobs import JobService, Reference
from .ledger import LedgerView
from .live_feed import ChangeFeed, LivePasses
from .media import inspect_image
from .notify import Notifier
from .presets import seed_starters
from .sandbox import Sandbox
from .tasklog import SHARED_OWNER, TaskLog

SANDBOX_BACKEND = "sandbox"
FOLLOWER_LOCK = "follower.lock"

log = logging.getLogger("rivya.studio")


class FollowerLock:
    """An exclusive ``flock`` on ``data_dir/follower.lock``: one follower per data folder.

    The kernel drops the lock when its holder exits, even on a crash, so a stale file never
    blocks a later process. Two opens in one process conflict too, so this also holds when a
    second ``Studio`` is opened on the same folder in the same process.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        """Take the lock if no one holds it; never waits."""
        if self._file is not None:
            return True
        file = open(self.path, "a")  # noqa: SIM115 - held open for as long as the lock is held
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        self._file = file
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the lock
            self._file = None


@dataclass
class Studio:
    """Everything a page needs. Shared by every session of the server, so it holds no per-user state."""

    settings: Settings
    client: RivyaClient
    log: TaskLog
    jobs: JobService
    ledger: LedgerView
    gate: PasswordGate
    # The log's change counter pushed to open pages (``rivya.live_feed``), and who may wait on it.
    live: ChangeFeed
    passes: LivePasses
    sandbox: Sandbox | None = None
    # Rivya webhooks, with ``PUBLIC_URL`` set (``rivya.hook_setup``); None without.
    webhooks: Webhooks | None = None
    _balances: dict[str, tuple[float, int | None]] = field(default_factory=dict, repr=False)
    _refreshing: set[str] = field(default_factory=set, repr=False)  # keys whose balance a thread is asking for
    _references: dict[tuple[str, str, str], Reference] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _follower_lock: FollowerLock | None = field(default=None, repr=False)
    _standby: threading.Thread | None = field(default=None, repr=False)
    _closing: threading.Event = field(default_factory=threading.Event, repr=False)
    following: bool = field(default=False, init=False)  # this process runs the follower for the data folder

    @classmethod
    def open(cls, settings: Settings, *, follow: bool = True) -> Studio:
        """Start the sandbox when no key is set, open the log, start the follower if no one else runs it."""
        # First: a log that cannot be opened leaves nothing running. Its days are the budgets' (one calendar).
        tasklog = TaskLog(settings.log_location, settings.budget_timezone)
        _seed(tasklog)
        sandbox = None
        if settings.uses_sandbox:
            # The demo sandbox lives beside the app, so it may deliver webhooks to a local address (the real service
            # only to a public HTTPS one).
            sandbox = Sandbox(host="127.0.0.1", port=0, allow_local_webhooks=True).start()
            client = RivyaClient(sandbox.api_key, sandbox.url)
            backend = SANDBOX_BACKEND
        else:
            client = RivyaClient(settings.api_key, settings.base_url)
            backend = settings.base_url
        notifier = Notifier(settings.notify_webhook_url, settings.notify_min_seconds) if settings.notify_webhook_url else None
        jobs = JobService(client, tasklog, settings.media_folder, backend=backend, notifier=notifier)
        live = ChangeFeed(lambda: tasklog.signature()[2])
        tasklog.db.written.append(live.poke)
        studio = cls(
            settings=settings, client=client, log=tasklog, jobs=jobs, ledger=LedgerView(tasklog),
            gate=PasswordGate(settings.app_password or ""), live=live, passes=LivePasses(), sandbox=sandbox,
        )
        if settings.public_url:
            studio.webhooks = Webhooks(jobs, client, settings.public_url)
        if follow:
            studio._follow()
        if studio.webhooks is not None:
            studio.webhooks.start()
        return studio

    def _follow(self) -> None:
        """Run the follower, or stand by while another process holds the data folder's lock (SQLite only)."""
        if not self.log.dialect.is_sqlite:
            self.jobs.start()
            self.following = True
            return
        self._follower_lock = FollowerLock(self.settings.data_dir / FOLLOWER_LOCK)
        if self._follower_lock.acquire():
            self.jobs.start()
            self.following = True
            return
        log.warning(
            "Another process already follows the jobs in %s; this one serves pages only "
            "and takes over the follower if that process stops.", self.settings.data_dir,
        )
        self._standby = threading.Thread(target=self._stand_by, name="rivya-standby", daemon=True)
        self._standby.start()

    def _stand_by(self) -> None:
        while not self._closing.wait(STANDBY_RETRY):
            if self._follower_lock is not None and self._follower_lock.acquire():
                log.warning("The process following %s stopped; this one follows its jobs now.", self.settings.data_dir)
                self.jobs.start()
                self.following = True
                return

    @property
    def backend_label(self) -> str:
        return "Local sandbox (demo)" if self.sandbox else self.settings.base_url

    def balance(self, owner: str = SHARED_OWNER, *, fresh: bool = False) -> int | None:
        """The wallet of a key, as shown on every run of every page: never a wait on Rivya once it is known.

        A figure older than ``BALANCE_TTL`` is returned as it is while one background request refreshes it, so a
        page run never waits for the service (stale-while-revalidate). ``fresh=True`` (the press's own check: money
        fails closed) always asks the service and waits. None means unknown (the reply did not say, or the shared
        request budget has no room right now); callers show "—" and let the service decide at submit.
        """
        cached = self._balances.get(owner)
        if not fresh and cached:
            if time.monotonic() - cached[0] >= BALANCE_TTL:
                self._refresh_balance_later(owner)
            return cached[1]
        return self._ask_balance(owner, cached)

    def _ask_balance(self, owner: str, cached: tuple[float, int | None] | None, *,
                     only_if_unchanged: bool = False) -> int | None:
        """Ask the service within the shared request budget and keep the reply. ``only_if_unchanged`` (the background
        refresh) keeps it only while the stored figure is still ``cached``: one forgotten or replaced meanwhile (a press
        spent credits) is not overwritten by a reply that left before."""
        if not self.jobs.budget.try_acquire():
            return cached[1] if cached else None
        credits = self.jobs.client_for(owner).get_credits().current_credits
        if not only_if_unchanged or self._balances.get(owner) is cached:
            self._balances[owner] = (time.monotonic(), credits)
        return credits

    def _refresh_balance_later(self, owner: str) -> None:
        """One refresh per key at a time, in a thread of its own. A failure keeps the last figure (logged without
        the key) and the next page run after ``BALANCE_TTL`` tries again."""
        with self._lock:
            if owner in self._refreshing:
                return
            self._refreshing.add(owner)
        before = self._balances.get(owner)

        def refresh() -> None:
            try:
                self._ask_balance(owner, before, only_if_unchanged=True)
            except Exception as error:  # a background look: the figure on screen stays as it was
                log.warning("The credit balance could not be refreshed: %s", type(error).__name__)
            finally:
                with self._lock:
                    self._refreshing.discard(owner)

        threading.Thread(target=refresh, name="balance-refresh", daemon=True).start()

    def forget_balance(self, owner: str = SHARED_OWNER) -> None:
        self._balances.pop(owner, None)

    def submit(self, form: presses.Form, who: presses.Who, intent: str) -> presses.Outcome:
        """One press of Generate: checked once, then ``form.count`` jobs under ``intent``'s keys, all or none."""
        return presses.submit(self, form, who, intent)

    def submit_grid(self, form: presses.GridForm, who: presses.Who, intent: str) -> presses.Outcome:
        """One press of Explore: the whole grid checked once, then one job per cell under ``intent``, all or none."""
        return presses.submit_grid(self, form, who, intent)

    def retry(self, job_id: int, who: presses.Who, intent: str) -> presses.Outcome:
        """One press of Try again on job ``job_id``: a new job of its model, prompt, settings and reference."""
        return presses.retry(self, job_id, who, intent)

    def used_today(self, person: str | None = None) -> int:
        """Credits the whole app (or one person) spent or holds today, counted as the spend guards count them."""
        return self.log.committed_credits_since(day_start(self.settings.budget_timezone), person=person)

    def prepare_reference(self, data: bytes, name: str, model: str, owner: str = SHARED_OWNER) -> Reference:
        """Check by content, keep a local copy, upload once per (content, model, key owner)."""
        rule = get_model(model).reference
        info = inspect_image(data, rule, name=name)
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            cached = self._references.get((digest, model, owner))
        if cached:
            return cached
        local = self.settings.media_folder / "references" / f"{digest[:32]}{info.extension}"
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
        self._closing.set()
        self.live.close()
        if self._standby is not None:
            self._standby.join(timeout=STANDBY_RETRY + 1)
        self.jobs.stop()
        self.following = False
        if self._follower_lock is not None:
            self._follower_lock.release()
        self.client.close()
        self.log.close()
        if self.sandbox:
            self.sandbox.stop()


def _seed(tasklog: TaskLog) -> None:
    """Add the shipped presets the log has not seen yet, once per opening (``seed_starters`` is idempotent).

    A log that opens but cannot be written (a read-only disk) still serves pages: the starters arrive with the next
    opening that can write them.
    """
    try:
        seed_starters(tasklog)
    except StorageError as exc:
        log.warning("the shipped presets were not added this time: %s", exc)


_shared: dict[Settings, Studio] = {}
_shared_lock = threading.Lock()


def open_shared(settings: Settings) -> Studio:
    """The process's one ``Studio`` for ``settings``, opened (and its follower started) on first use."""
    with _shared_lock:
        studio = _shared.get(settings)
        if studio is None:
            studio = _shared[settings] = Studio.open(settings)
        return studio


def shared_studios() -> list[Studio]:
    """Every ``Studio`` this process opened (a closed browser session's pass is dropped from each)."""
    with _shared_lock:
        return list(_shared.values())


def close_shared(settings: Settings | None = None) -> None:
    """Close the shared ``Studio`` of ``settings``, or every one (at server shutdown)."""
    with _shared_lock:
        if settings is None:
            studios = list(_shared.values())
            _shared.clear()
        else:
            studios = [_shared.pop(settings)] if settings in _shared else []
    for studio in studios:
        studio.close()
