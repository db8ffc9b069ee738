"""Turning webhooks on for one process: the receiver wired to the follower, and the endpoint registered with Rivya.

Only with ``PUBLIC_URL`` set (``Studio.open``). At start-up the process finds its own endpoint by URL and reuses it, or
creates one; a secret it does not have (any endpoint it did not just create) it gets by rotating. The secret lives in
this object's memory only: never the log, a file, a page or a log line. Nothing this process did not create is ever
changed or removed, and nothing is removed at shutdown (another replica, or the next start, uses the endpoint).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import suppress

from . import constants
from .client import RivyaClient
from .errors import RivyaError, StorageError, WebhookUrlRejectedError
from .jobs import JobService
from .resources import WebhookEndpoint
from .webhooks import HookReceiver, WebhookHealth

log = logging.getLogger("rivya.webhooks")


def endpoint_url(public_url: str) -> str:
    """The address Rivya delivers to: the app's public address and its receiver's route."""
    return public_url.rstrip("/") + constants.WEBHOOK_PATH


class Webhooks:
    """The receiver, the deliveries' health, and the registration of one process's endpoint."""

    def __init__(self, jobs: JobService, client: RivyaClient, public_url: str) -> None:
        self.url = endpoint_url(public_url)
        self.client = client.with_options(max_retries=0)
        self.health = WebhookHealth(on_lost=jobs.timetable.tighten, log=jobs.log)
        self.receiver = HookReceiver(
            jobs.log, jobs.backend, holds=jobs.held.holds, wake=lambda job_id: jobs.timetable.look_now([job_id]),
            ask_holder=jobs.log.ask_recheck, health=self.health,
        )
        jobs.timetable.relaxed = lambda: self.health.healthy
        jobs.follower.found_end = self.health.found_by_poll
        jobs.held.recheck_read = constants.WEBHOOK_RECHECK_READ
        look_now = jobs.held.on_recheck

        def recheck(job_ids: Sequence[int]) -> None:
            """Another replica received an event and asks for a look: the jobs' ends were announced there."""
            # The looks go out even if the log cannot be read now; a finish they find may end the health here (safe).
            with suppress(StorageError):
                self.health.announced_jobs([j.task_id for j in jobs.log.many(job_ids) if j.task_id])
            look_now(job_ids)

        jobs.held.on_recheck = recheck
        self.endpoint: WebhookEndpoint | None = None
        self.created = False  # this process created the endpoint (so it is the only one it would ever remove)
        self._thread: threading.Thread | None = None

    def register(self) -> WebhookEndpoint | None:
        """Find or create this app's endpoint and hold its secret; then ask for a test event. None when it failed
        (said in the server's log): the app then polls on the documented cadence, as without ``PUBLIC_URL``."""
        try:
            mine = [e for e in self.client.list_webhooks() if e.url == self.url]
            if mine:
                endpoint = self.client.rotate_webhook_secret(mine[0].id)  # its secret was shown once, to someone else
            else:
                endpoint = self.client.create_webhook(self.url, name=constants.WEBHOOK_NAME)
                self.created = True
            if endpoint.signing_secret is None:
                log.warning("Rivya returned the webhook endpoint without its signing secret: events will only wake "
                            "jobs, and polling keeps its documented cadence")
            else:
                self.receiver.secrets.set(endpoint.signing_secret)
            self.endpoint = endpoint
            self.client.test_webhook(endpoint.id)
        except WebhookUrlRejectedError as exc:
            log.error("Rivya refused the webhook address %s (%s): PUBLIC_URL must be the app's public HTTPS address; "
                      "polling carries on without webhooks", self.url, exc.message)
            return None
        except RivyaError as exc:
            log.error("Setting up Rivya webhooks failed (%s); polling carries on without them", type(exc).__name__)
            return self.endpoint
        log.info("Rivya webhooks on: events for %s", self.url)
        return self.endpoint

    def start(self) -> Webhooks:
        """Register on a thread: the server must be up to take the test event, and a slow API must not delay it."""
        self._thread = threading.Thread(target=self.register, name="rivya-webhooks-setup", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float = 30.0) -> None:
        """Block until registration finished (tests and scripts)."""
        if self._thread is not None:
            self._thread.join(timeout)
