"""A message to a team chat when a long job ends: a Slack-compatible incoming webhook.

The follower hands every job it saw end to ``Notifier.job_ended``, which returns at once;
one small thread of its own posts the messages, retrying connection errors, 5xx and 429
with backoff, so a slow or failing chat never holds up a poll. Each job is posted at most
once per process, and only jobs this process saw finish (a restart never re-posts old ones).

The payload carries only what the job row says a person made (model, outcome, prompt,
credits, who, how long): never a key, a password or the webhook's own address, which is
itself a secret and is kept out of every log line.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from urllib.parse import urlsplit

import requests

from . import constants
from .backoff import Backoff
from .catalog import display_name
from .client import parse_retry_after
from .status import JobStatus
from .tasklog import Job

log = logging.getLogger("rivya.notify")

# Outcomes worth a message: the task ran on the service. A create refused before anything ran is not.
ENDINGS = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


class _Retry(Exception):
    """A delivery that may work later: no connection, a 5xx or a 429 (``wait``: its Retry-After)."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class _Refused(Exception):
    """The chat answered with a status that trying again cannot change (a 4xx, or a redirect)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _HidePath(logging.Filter):
    """urllib3 logs each request's path and query at DEBUG; a webhook's are its secret, so they never reach a log."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if len(secret) > 1]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "…")
            record.msg, record.args = message, None
        return True


class Notifier:
    """Posts a message for each job of at least ``min_seconds`` that the follower saw end."""

    def __init__(
        self,
        url: str,
        min_seconds: float,
        *,
        attempts: int = constants.NOTIFY_ATTEMPTS,
        backoff: float = constants.NOTIFY_BACKOFF,
        backoff_max: float = constants.NOTIFY_BACKOFF_MAX,
        timeout: float = constants.NOTIFY_TIMEOUT,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError("NOTIFY_WEBHOOK_URL must be an http(s) address")
        self._url = url
        self.min_seconds = min_seconds
        self.attempts = attempts
        self.backoff = Backoff(backoff, backoff_max)
        self.timeout = timeout
        self._session = requests.Session()
        self._hide_path = _HidePath(parts.path, parts.query)
        logging.getLogger("urllib3.connectionpool").addFilter(self._hide_path)
        self._queue: queue.Queue[Job] = queue.Queue(constants.NOTIFY_QUEUE_SIZE)
        self._claimed: set[int] = set()  # jobs queued or posted: at most one message per job
        self.delivered: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rivya-notify", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"Notifier(min_seconds={self.min_seconds:g})"  # never the address

    def job_ended(self, job: Job) -> None:
        """Queue a message for ``job`` if it ran long enough; never blocks, never raises for the caller."""
        if job.status not in ENDINGS or job.elapsed_seconds < self.min_seconds:
            return
        with self._lock:
            if job.id in self._claimed:
                return
            self._claimed.add(job.id)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            log.warning("job %s: too many messages waiting for the webhook; this one is dropped", job.id)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the sender; messages still waiting are dropped."""
        self._stop.set()
        self._thread.join(timeout)
        self._session.close()
        logging.getLogger("urllib3.connectionpool").removeFilter(self._hide_path)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._deliver(job)
            except Exception as exc:  # only the type: an error's text (or traceback) may quote the address
                log.warning("job %s: the webhook message failed (%s)", job.id, type(exc).__name__)

    def _deliver(self, job: Job) -> None:
        body = json.dumps(payload(job)).encode()
        for attempt in range(self.attempts):
            try:
                self._post(body)
            except _Retry as exc:
                if attempt + 1 == self.attempts:
                    log.warning("job %s: webhook message not delivered after %d tries (%s)", job.id, self.attempts, exc.reason)
                    return
                wait = exc.wait if exc.wait is not None else self.backoff.delay(attempt)
                log.info("job %s: webhook message not delivered (%s); trying again", job.id, exc.reason)
                if self._stop.wait(min(self.backoff.cap, wait)):
                    return
                continue
            except _Refused as exc:
                log.warning("job %s: the webhook refused the message (HTTP %s); not retried", job.id, exc.status)
                return
            self.delivered.add(job.id)
            return

    def _post(self, body: bytes) -> None:
        """One POST. Errors name only a status or an exception type: their text could carry the address.

        A redirect is not followed: it would carry the message to an address nobody configured (or drop it as a GET).
        """
        try:
            response = self._session.post(
                self._url, data=body, headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self.timeout, allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise _Retry(type(exc).__name__) from None
        with response:
            status = response.status_code
            if status == 429 or status >= 500:
                raise _Retry(f"HTTP {status}", parse_retry_after(response.headers.get("Retry-After")))
            if status >= 300:
                raise _Refused(status)


def _escape(text: str) -> str:
    """Slack's mrkdwn gives &, < and > meaning (links, mentions): a prompt must not ping anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def payload(job: Job) -> dict[str, object]:
    """The message for one ended job: a plain ``text`` (notifications, old clients) and simple blocks."""
    model = display_name(job.model)
    outcome = "finished" if job.status == JobStatus.SUCCEEDED else "failed"
    prompt = " ".join(job.prompt.split())
    if len(prompt) > constants.NOTIFY_PROMPT_CHARS:
        prompt = prompt[: constants.NOTIFY_PROMPT_CHARS - 1].rstrip() + "…"
    who = f" for {job.person_name}" if job.person_name else ""
    credits = job.charged_credits
    facts = f"{_duration(job.elapsed_seconds)} · {credits} credit{'s' if credits != 1 else ''} · job {job.id}"
    headline = f"{model} job {outcome}{who} after {_duration(job.elapsed_seconds)}"
    summary = _escape(f"*{model}* job {outcome}{who}") + "\n>" + _escape(prompt)
    return {
        "text": _escape(f"{headline}: “{prompt}”"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(facts)}]},
        ],
    }
