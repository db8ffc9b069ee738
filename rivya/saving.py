"""Saving a succeeded job's result media under the media folder, on a small pool of its own.

The follower hands every job that awaits its media to ``MediaSaver.save_later`` (its callback on "succeeded"),
which returns at once: a slow download never holds up a poll. A job is saved by one thread at a time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from . import constants
from .backoff import Backoff
from .download import MediaRefused, download_media, shown_url
from .errors import RivyaError, StorageError
from .outage import OutageNotice
from .results import byte_cap, kept_urls
from .tasklog import Job, TaskLog
from .thumbnails import CARD, thumbnail

log = logging.getLogger("rivya.jobs")

# Result downloads that failed: 2, 4 … s between tries.
MEDIA_BACKOFF = Backoff(constants.MEDIA_RETRY_DELAY, constants.MEDIA_RETRY_MAX_DELAY)


class MediaSaver:
    """Downloads results (checked by ``rivya.media``) and records their paths, or why they could not be saved."""

    def __init__(
        self, log: TaskLog, media_dir: Path, *, allow_private: bool, outage: OutageNotice, backoff: Backoff = MEDIA_BACKOFF
    ) -> None:
        self.log = log
        self.outage = outage
        self.backoff = backoff
        self.media_dir = Path(media_dir)
        # Result links may point at the API's own host only when that host is itself local.
        self.allow_private = allow_private
        self._pool = ThreadPoolExecutor(constants.MEDIA_WORKERS, thread_name_prefix="rivya-media")
        self._saving: set[int] = set()
        self._futures: set[Future[None]] = set()
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    @property
    def idle(self) -> bool:
        """No job's media is being saved."""
        with self._lock:
            return not self._saving

    def save_later(self, job: Job) -> None:
        """Queue a job's media for saving, unless it is being saved already; never blocks."""
        with self._lock:
            if job.id in self._saving:
                return
            try:
                future = self._pool.submit(self.save, job)
            except RuntimeError:  # the service is stopping; the next start finds the job unsaved
                return
            self._saving.add(job.id)
            self._futures.add(future)
        future.add_done_callback(self._finished)

    def _finished(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def wait(self) -> None:
        """Return once every save queued so far (and any queued meanwhile) has finished."""
        while True:
            with self._lock:
                saving = list(self._futures)
            if not saving:
                return
            wait(saving)

    def stop(self) -> None:
        """Start no more saves; one waiting to try again gives up (the next start finds its job unsaved)."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def save(self, job: Job) -> None:
        """Save every result of a job under the media folder; record why if it cannot be done."""
        try:
            current = self.log.get(job.id)
            if current is None or not current.awaits_media:
                return  # saved (or given up on) meanwhile, e.g. by another replica's follower
            paths: list[str] = []
            room = byte_cap(job.category)  # what this task may still store (``rivya.results``)
            for n, url in enumerate(kept_urls(job)):
                try:
                    path = self._download(job, n, url, room)
                except RivyaError as exc:
                    self.log.update(job.id, media_paths=paths, media_error=str(exc)[:500], unless_saved=True)
                    return
                if path is None:
                    return  # stopping: the next start finds the job unsaved
                room -= path.stat().st_size
                thumbnail(path, CARD)
                paths.append(str(path))
            self.log.update(job.id, media_paths=paths)
        except Exception as exc:
            if isinstance(exc, StorageError):
                self.outage.failed("saving", exc)  # said once per outage, however many results wait
            else:
                log.exception("job %s: saving its result failed", job.id)
            with contextlib.suppress(Exception):  # the disk may be what failed; the job still ends as succeeded
                self.log.update(job.id, media_error=f"The result could not be saved here ({type(exc).__name__}).",
                                unless_saved=True)
        else:
            self.outage.answered("saving")
        finally:
            with self._lock:
                self._saving.discard(job.id)

    def _download(self, job: Job, n: int, url: str, room: int) -> Path | None:
        """One result, tried up to ``MEDIA_ATTEMPTS`` times: its path, or None when stopping; raises the last error."""
        attempt = 0
        while True:
            try:
                return download_media(
                    url, self.media_dir / f"{job.id}-{n}", expected=job.category,
                    allow_private=self.allow_private, max_bytes=min(room, constants.MEDIA_MAX_BYTES),
                )
            except RivyaError as exc:
                attempt += 1
                log.warning("job %s: %s not saved, try %d (%s)", job.id, shown_url(url), attempt, type(exc).__name__)
                if isinstance(exc, MediaRefused) or attempt >= constants.MEDIA_ATTEMPTS:
                    raise  # a refusal breaks a rule: trying again cannot help
            if self._stopping.wait(self.backoff.delay(attempt - 1)):
                return None
