"""The job panel: full size for the newest result only, thumbnails elsewhere, and the refresh pace."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from rivya.constants import FAST_REFRESH_SECONDS, SLOW_REFRESH_SECONDS
from rivya.panel import needs_page_run, refresh_interval
from rivya.sandbox import Sandbox
from rivya.tasklog import Job, TaskLog
from rivya.typical import TypicalSeconds

from .conftest import APP, ROOT, open_page

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TYPICAL = TypicalSeconds(clock=time.monotonic).seconds  # nothing learnt: an image's expected 10 s


@pytest.fixture
def log(tmp_path: Path) -> Iterator[TaskLog]:
    tasklog = TaskLog(tmp_path / "panel.sqlite3")
    yield tasklog
    tasklog.close()


def job(log: TaskLog, sent_ago: float, status: str = "processing", **fields: object) -> Job:
    """A real logged job sent ``sent_ago`` seconds before NOW."""
    row = log.add(
        idempotency_key=f"k{len(log.recent(limit=1000))}", backend="elsewhere", model="grok-imagine", category="image",
        prompt="p", params={}, submitted_at=(NOW - timedelta(seconds=sent_ago)).isoformat(),
    )
    return log.update(row.id, status=status, **fields)


def test_refresh_interval_is_fast_only_near_the_expected_finish(log: TaskLog) -> None:
    def pace(*jobs: Job) -> float | None:
        return refresh_interval(jobs, TYPICAL, NOW)

    assert pace() is None
    assert pace(job(log, 30, "succeeded", media_paths=["/m/a.png"], result_urls=["https://x/a.png"])) is None
    assert pace(job(log, 2, "failed")) is None
    assert pace(job(log, 1, "queued")) == SLOW_REFRESH_SECONDS  # just sent: 9 s to go
    assert pace(job(log, 8)) == FAST_REFRESH_SECONDS  # within 3 s of its typical 10 s
    assert pace(job(log, 25)) == FAST_REFRESH_SECONDS  # late: may finish any moment
    assert pace(job(log, 45)) == SLOW_REFRESH_SECONDS  # past 3x typical: no expected finish left
    assert pace(job(log, 1, "submitting")) == SLOW_REFRESH_SECONDS
    saving = job(log, 100, "succeeded", result_urls=["https://x/b.png"])  # succeeded, result not saved yet
    assert saving.awaits_media and pace(saving) == FAST_REFRESH_SECONDS
    assert pace(job(log, 1, "queued"), job(log, 9)) == FAST_REFRESH_SECONDS  # the soonest job sets the pace


def test_a_refresh_becomes_a_page_run_only_when_something_settles_or_the_pace_changes(log: TaskLog) -> None:
    done = job(log, 60, "failed")
    running = job(log, 1, "queued", task_id="t1")
    settled = frozenset({done.id})
    armed = refresh_interval([done, running], TYPICAL, NOW)
    assert armed == SLOW_REFRESH_SECONDS
    assert not needs_page_run([running, done], settled, armed, TYPICAL, NOW)  # nothing new: stays a cheap refresh
    finished = log.update(running.id, status="failed")
    assert needs_page_run([finished, done], settled, armed, TYPICAL, NOW)  # its card moves to the finished list
    assert needs_page_run([running, done], settled, FAST_REFRESH_SECONDS, TYPICAL, NOW)  # the timer must be re-armed
    assert needs_page_run([running, done], settled, armed, TYPICAL, NOW + timedelta(seconds=7))  # near its finish now
    newcomer = job(log, 0, "queued")  # someone's new job is drawn by the live part itself
    assert not needs_page_run([newcomer, running, done], settled, armed, TYPICAL, NOW)


# -- on the page ---------------------------------------------------------------------------------


def saved_result(name: str, color: str) -> tuple[list[str], list[str]]:
    """A 640x480 PNG saved in the app's media folder, as the follower saves one: (media_paths, result_urls)."""
    from ui.services import get_studio

    media = get_studio().jobs.media_dir
    media.mkdir(parents=True, exist_ok=True)
    path = media / f"{name}-0.png"
    Image.new("RGB", (640, 480), color).save(path)
    return [str(path)], [f"https://cdn.example/{name}.png?sig=1"]


def finished_jobs(colors: list[str]) -> list[Job]:
    """Succeeded jobs of another backend (the follower leaves them alone), oldest first."""
    from ui.services import get_studio

    log = get_studio().log
    jobs = []
    for n, color in enumerate(colors):
        row = log.add(idempotency_key=f"done-{n}", backend="elsewhere", model="grok-imagine", category="image",
                      prompt=f"done {n}", params={})
        paths, urls = saved_result(f"done{n}", color)
        jobs.append(log.update(row.id, status="succeeded", media_paths=paths, result_urls=urls))
    return jobs


def inlined_jpeg(url: str) -> Image.Image:
    assert url.startswith("data:image/jpeg;base64,"), url[:40]
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_the_newest_result_is_full_size_and_older_ones_are_thumbnails(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    oldest, *_ = finished_jobs(["red", "green", "blue"])
    at = open_page("pages/image.py")
    urls = [u for image in at.get("image") for u in image.value]
    full = [u for u in urls if not u.startswith("data:")]
    assert len(full) == 1  # only the newest result is read and sent whole
    thumbs = [inlined_jpeg(u) for u in urls if u.startswith("data:")]
    assert len(thumbs) == 2 and all(max(t.size) <= 160 for t in thumbs)
    assert [t.convert("RGB").getpixel((10, 10))[1] > 100 for t in thumbs] == [True, False]  # green, then red: newest first
    assert len(at.get("download_button")) == 3  # made on click: no result is read for them
    # Full size of an older result opens the large view, through its link.
    at.button(key=f"grok-imagine:panel:full:{oldest.id}").click().run()
    assert at.query_params["job"] == str(oldest.id) and not at.exception


def test_a_thumbnail_outside_the_media_folder_is_never_read(app_sandbox: Sandbox, tmp_path: Path) -> None:
    open_page("pages/image.py")
    older, _ = finished_jobs(["red", "green"])
    outside = tmp_path / "elsewhere.jpg"
    Image.new("RGB", (8, 8), "white").save(outside)
    Path(older.media_paths[0] + ".thumb.jpg").symlink_to(outside)  # planted where the thumbnail would be
    at = open_page("pages/image.py")
    assert not [u for image in at.get("image") for u in image.value if u.startswith("data:")]
    assert "No preview of this result." in [c.value for c in at.caption] and not at.exception


def test_home_shows_recent_results_as_thumbnails(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    finished_jobs(["red", "green", "blue"])
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    urls = [u for image in at.get("image") for u in image.value]
    assert len(urls) == 3 and all(max(inlined_jpeg(u).size) <= 160 for u in urls)
    assert not at.get("download_button") and not at.exception


def test_start_up_freezes_the_long_lived_heap_out_of_collections() -> None:
    """What the server holds from start-up (modules, pages' imports) is left out of every garbage collection."""
    probe = (
        "import gc, sys, time, app; app.freeze_long_lived(); "
        "t = time.perf_counter(); gc.collect(); took = time.perf_counter() - t; "
        "print(gc.get_freeze_count(), len(gc.get_objects()), all(m in sys.modules for m in app.PAGE_MODULES), took)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    frozen, tracked, preloaded, took = out.stdout.split()
    assert int(frozen) > 50_000 and int(tracked) < 5_000, out.stdout  # a full collection walks only what came later
    assert preloaded == "True" and float(took) < 0.02
