"""Download buttons (one result, a ZIP of several) and times shown in the viewer's timezone."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect
from streamlit.testing.v1 import AppTest

from rivya.config import Settings
from rivya.recipes import download_name, read_recipe, recipe
from rivya.sandbox import Sandbox
from rivya.studio import Studio, close_shared
from rivya.tasklog import Job
from ui.text import local_time

from .browser_support import StreamlitServer, new_page
from .conftest import FAST_TIMING

NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "today", "earlier", "last_year"),
    [
        ("Europe/Berlin", "14:05 CET", "Nov 21, 14:05 CET", "Jul 4 2025, 15:05 CEST"),
        ("America/New_York", "08:05 EST", "Nov 21, 08:05 EST", "Jul 4 2025, 09:05 EDT"),
        # 22:00 UTC is already the 26th in Tokyo: 13:05 UTC on the 25th is yesterday there.
        ("Asia/Tokyo", "Nov 25, 22:05 JST", "Nov 21, 22:05 JST", "Jul 4 2025, 22:05 JST"),
        ("UTC", "13:05 UTC", "Nov 21, 13:05 UTC", "Jul 4 2025, 13:05 UTC"),
    ],
)
def test_local_time_in_the_viewers_zone(zone: str, today: str, earlier: str, last_year: str) -> None:
    tz = ZoneInfo(zone)
    assert local_time("2026-11-25T13:05:00+00:00", now=NOW, tz=tz) == today
    assert local_time("2026-11-21T13:05:00.123+00:00", now=NOW, tz=tz) == earlier
    assert local_time("2025-07-04T13:05:00", now=NOW, tz=tz) == last_year  # no offset: the log writes UTC


def show_local_time() -> None:
    import streamlit as st

    from ui.text import local_time, viewer_timezone

    st.text(str(viewer_timezone()))
    st.text(local_time("2026-11-21T13:05:00+00:00"))


@pytest.mark.parametrize(
    ("browser_zone", "shown"),
    [
        ("Asia/Tokyo", ("Asia/Tokyo", "Nov 21, 22:05 JST")),
        ("America/Los_Angeles", ("America/Los_Angeles", "Nov 21, 05:05 PST")),
        ("Not/AZone", ("UTC", "Nov 21, 13:05 UTC")),  # a name this server does not know
        ("../../etc/passwd", ("UTC", "Nov 21, 13:05 UTC")),
        (None, ("UTC", "Nov 21, 13:05 UTC")),
    ],
)
def test_viewer_timezone_comes_from_the_browser(browser_zone: str | None, shown: tuple[str, str]) -> None:
    at = AppTest.from_function(show_local_time, default_timeout=30)
    at.context = {"timezone": browser_zone}
    at.run()
    assert not at.exception and tuple(t.value for t in at.text) == shown


# -- the buttons, on real saved results -------------------------------------------------------


@dataclass
class Results:
    sandbox: Sandbox
    data_dir: Path
    image: Job
    video: Job
    failed: Job

    @property
    def env(self) -> dict[str, str]:
        return {"RIVYA_BASE_URL": self.sandbox.url, "RIVYA_API_KEY": self.sandbox.api_key, "RIVYA_DATA_DIR": str(self.data_dir)}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Results]:
    """A data folder holding a saved image, a saved video and a failed job, made by the app's own backend."""
    data_dir = tmp_path_factory.mktemp("downloads")
    with Sandbox(timing=FAST_TIMING) as sandbox:
        studio = Studio.open(Settings(api_key=sandbox.api_key, base_url=sandbox.url, data_dir=data_dir), follow=False)
        made = [
            studio.jobs.submit("grok-imagine", "A red kite, over hills", {"aspect_ratio": "1:1"}, idempotency_key="d1"),
            studio.jobs.submit("grok-imagine-video", "a kite flying", {"duration": 6}, idempotency_key="d2"),
            studio.jobs.submit("grok-imagine", "please #fail", {}, idempotency_key="d3"),
        ]
        deadline = time.monotonic() + 60
        while not all((j := studio.log.get(m.id)).is_done and (j.media_paths or j.status != "succeeded") for m in made):
            assert time.monotonic() < deadline, "jobs did not finish"
            studio.jobs.follow_once()
            time.sleep(0.1)
        image, video, failed = (studio.log.get(m.id) for m in made)
        studio.close()
        yield Results(sandbox, data_dir, image, video, failed)


def buttons(ids: list[int], max_bytes: int) -> None:
    from ui.downloads import download_button, zip_download
    from ui.services import get_studio

    jobs = [get_studio().log.get(i) for i in ids]
    for job in jobs:
        download_button(job, key=f"dl:{job.id}")
    zip_download(jobs, key="zip", max_bytes=max_bytes)


@pytest.fixture
def app_on(results: Results, monkeypatch: pytest.MonkeyPatch) -> Iterator[Results]:
    for name, value in results.env.items():
        monkeypatch.setenv(name, value)
    yield results
    close_shared()


def test_buttons_build_nothing_until_clicked(app_on: Results) -> None:
    ids = [app_on.image.id, app_on.video.id, app_on.failed.id]
    at = AppTest.from_function(buttons, args=(ids, 500 * 2**20), default_timeout=30)
    at.run()
    assert not at.exception
    shown = {b.key: b for b in at.get("download_button")}
    assert set(shown) == {f"dl:{app_on.image.id}", f"dl:{app_on.video.id}", "zip"}  # the failed job has no file
    for button in shown.values():
        # A deferred file id and no URL: the bytes are produced by the click, not by the page run.
        assert button.proto.deferred_file_id and not button.proto.url and not button.proto.disabled
    assert shown["zip"].proto.label == "Download ZIP" and shown["zip"].proto.help.startswith("3 selected")


def test_an_oversized_zip_is_refused_in_words(app_on: Results) -> None:
    at = AppTest.from_function(buttons, args=([app_on.image.id, app_on.video.id], 1000), default_timeout=30)
    at.run()
    assert not at.exception
    zip_button = next(b for b in at.get("download_button") if b.key == "zip")
    assert zip_button.proto.disabled and not zip_button.proto.deferred_file_id
    assert "a ZIP may hold at most 0 MB. Select fewer results." in at.caption[-1].value


# -- clicking them in Chromium ------------------------------------------------------------------

PAGE = """
import json, os
import streamlit as st
from ui.downloads import download_button, zip_download
from ui.services import get_studio

st.title("Downloads")
jobs = [get_studio().log.get(i) for i in json.loads(os.environ["DOWNLOAD_JOB_IDS"])]
for job in jobs:
    download_button(job, key=f"dl:{job.id}")
zip_download(jobs, key="zip")
"""


@pytest.fixture(scope="module")
def served(results: Results, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server on a page holding only the download buttons (Gallery, History and cards use them too)."""
    script = tmp_path_factory.mktemp("page") / "downloads_page.py"
    script.write_text(PAGE)
    ids = [results.image.id, results.video.id, results.failed.id]
    server = StreamlitServer({**results.env, "DOWNLOAD_JOB_IDS": json.dumps(ids)}, script=script)
    yield server.url
    server.stop()


@pytest.mark.browser
def test_clicks_download_files_that_carry_their_recipe(
    served: str, results: Results, browser: Browser, request: pytest.FixtureRequest
) -> None:
    with new_page(browser, request, accept_downloads=True) as page:
        page.goto(served)
        expect(page.get_by_role("heading", name="Downloads")).to_be_visible(timeout=30_000)

        with page.expect_download(timeout=60_000) as one:
            page.get_by_role("button", name="Download", exact=True).first.click()
        assert one.value.suggested_filename == f"a-red-kite-over-hills-{results.image.id}.png"
        assert read_recipe(Path(one.value.path())) == recipe(results.image)

        with page.expect_download(timeout=60_000) as many:
            page.get_by_role("button", name="Download ZIP").click()
        assert many.value.suggested_filename == "imagine-studio-3-results.zip"
        with zipfile.ZipFile(io.BytesIO(Path(many.value.path()).read_bytes())) as archive:
            png, mp4 = download_name(results.image, ".png"), download_name(results.video, ".mp4")
            assert archive.namelist() == [png, mp4, "recipes.json"]
            listed = [r["job_id"] for r in json.loads(archive.read("recipes.json"))]
            assert listed == [results.image.id, results.video.id, results.failed.id]
            assert read_recipe(archive.read(mp4)) == recipe(results.video)
