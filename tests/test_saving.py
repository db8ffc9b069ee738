"""Saving a succeeded job's results: tried again on the shared back-off, never for a refusal, and given up at stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from rivya import constants
from rivya.backoff import Backoff
from rivya.outage import OutageNotice
from rivya.saving import MediaSaver
from rivya.tasklog import Job, TaskLog

from .conftest import image_bytes
from .test_media import Site, serve

PNG = image_bytes("PNG", (32, 24), "red")


@dataclass(frozen=True)
class Counted(Backoff):
    """The shared back-off, noting each attempt it was asked about (and answering at once)."""

    asked: list[int] = field(default_factory=list)

    def delay(self, attempt: int, *, rand: float | None = None) -> float:
        self.asked.append(attempt)
        return 0.0


@pytest.fixture
def log(tmp_path: Path) -> Iterator[TaskLog]:
    tasklog = TaskLog(tmp_path / "log.sqlite3")
    yield tasklog
    tasklog.close()


def succeeded(log: TaskLog, url: str) -> Job:
    job = log.add(idempotency_key="k", backend="test", model="grok-imagine", category="image", prompt="a fox", params={})
    return log.update(job.id, status="succeeded", result_urls=[url])


def failing(times: int) -> object:
    """A route that answers 500 ``times`` times, then the picture."""
    left = [times]

    def route(handler: BaseHTTPRequestHandler) -> None:
        if left[0] > 0:
            left[0] -= 1
            handler.send_error(500)
            return
        serve(PNG, "image/png")(handler)

    return route


def test_a_download_that_fails_is_tried_again_on_the_back_off_and_saved(site: Site, log: TaskLog, tmp_path: Path) -> None:
    site.routes["/a.png"] = failing(constants.MEDIA_ATTEMPTS - 1)
    backoff = Counted(constants.MEDIA_RETRY_DELAY, constants.MEDIA_RETRY_MAX_DELAY)
    saver = MediaSaver(log, tmp_path / "media", allow_private=True, outage=OutageNotice(), backoff=backoff)
    job = succeeded(log, site.url("/a.png"))
    saver.save_later(job)
    saver.wait()
    saved = log.get(job.id)
    assert len(saved.media_paths) == 1 and Path(saved.media_paths[0]).read_bytes() == PNG and saved.media_error is None
    assert backoff.asked == list(range(constants.MEDIA_ATTEMPTS - 1)) and len(site.hits) == constants.MEDIA_ATTEMPTS
    saver.stop()


def test_a_refused_result_is_not_tried_again(site: Site, log: TaskLog, tmp_path: Path) -> None:
    site.routes["/a.png"] = serve(b"<html>not a picture</html>", "text/html")
    backoff = Counted(constants.MEDIA_RETRY_DELAY, constants.MEDIA_RETRY_MAX_DELAY)
    saver = MediaSaver(log, tmp_path / "media", allow_private=True, outage=OutageNotice(), backoff=backoff)
    job = succeeded(log, site.url("/a.png"))
    saver.save_later(job)
    saver.wait()
    assert log.get(job.id).media_error and backoff.asked == [] and len(site.hits) == 1
    saver.stop()


def test_a_save_waiting_to_try_again_gives_up_at_stop_and_leaves_the_job_for_the_next_start(
    site: Site, log: TaskLog, tmp_path: Path
) -> None:
    site.routes["/a.png"] = failing(1)
    saver = MediaSaver(log, tmp_path / "media", allow_private=True, outage=OutageNotice(), backoff=Backoff(3600, 3600))
    job = succeeded(log, site.url("/a.png"))
    saver.save_later(job)
    deadline = time.monotonic() + 30
    while not site.hits:  # the first try failed; the saver now waits an hour before the next
        assert time.monotonic() < deadline, "the saver never tried"
        time.sleep(0.01)
    stopped = threading.Thread(target=lambda: (saver.stop(), saver.wait()))
    stopped.start()
    stopped.join(30)
    assert not stopped.is_alive() and saver.idle  # it did not sit out the hour
    row = log.get(job.id)
    assert row.awaits_media and row.media_error is None  # unsaved, not failed: the next start saves it
