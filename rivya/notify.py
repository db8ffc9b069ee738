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
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from .catalog import display_name
from .status import JobStatus
from .tasklog import Job

log = logging.getLogger("rivya.notify")

PROMPT_CHARS = 200
ATTEMPTS = 5
BACKOFF = 2.0
BACKOFF_MAX = 60.0
TIMEOUT = 10.0
QUEUE_SIZE = 1000
# Outcomes worth a message: the task ran on the service. A create refused before anything ran is not.
ENDINGS = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


class _Retry(Exception):
    """A delivery that may work later: no connection, a 5xx or a 429 (``wait``: its Retry-After)."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


class Notifier:
    """Posts a message for each job of at least ``min_seconds`` that the follower saw end."""

    def __init__(
        self,
        url: str,
        min_seconds: float,
        *,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        backoff_max: float = BACKOFF_MAX,
        timeout: float = TIMEOUT,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("NOTIFY_WEBHOOK_URL must be an http(s) address")
        self._url = url
        self.min_seconds = min_seconds
        self.attempts = attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.timeout = timeout
        self._queue: queue.Queue[Job] = queue.Queue(QUEUE_SIZE)
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
                wait = exc.wait if exc.wait is not None else self.backoff * 2**attempt
                log.info("job %s: webhook message not delivered (%s); trying again", job.id, exc.reason)
                if self._stop.wait(min(self.backoff_max, max(0.0, wait))):
                    return
                continue
            except urllib.error.HTTPError as exc:
                log.warning("job %s: the webhook refused the message (HTTP %s); not retried", job.id, exc.code)
                return
            self.delivered.add(job.id)
            return

    def _post(self, body: bytes) -> None:
        """One POST. Errors name only a status or an exception type: their text could carry the address."""
        request = urllib.request.Request(
            self._url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # the scheme was checked: http(s) only
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 429 or exc.code >= 500:
                raise _Retry(f"HTTP {exc.code}", _retry_after(exc.headers.get("Retry-After"))) from None
            raise
        except (urllib.error.URLError, OSError) as exc:
            raise _Retry(type(exc).__name__) from None


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


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
    if len(prompt) > PROMPT_CHARS:
        prompt = prompt[: PROMPT_CHARS - 1].rstrip() + "…"
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
