"""The SQLite job log's disk turns read-only under an open page (real server, Chromium, a real immutable file).

Nobody touches the pages: reads still work, so it is the follower's refused write (a job finished at Rivya and could not
be written down) that turns them to their notice, Generate off, even a page that draws nothing live but the notices
watcher (Gallery); they come back by themselves once the disk can be written, and the result is written down then, once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import TaskLog

from .browser_support import (
    GENERATE_DISABLED,
    GENERATE_ENABLED,
    StreamlitServer,
    new_page,
    open_page,
    served_app,
    tasks_with,
    type_prompt,
)
from .read_only import read_only_disk

pytestmark = pytest.mark.browser

READ_ONLY = "The job log can be read but not written right now"
# The follower looks again within its poll interval (10 s at most), the watcher within its idle interval (10 s).
NOTICED = 60_000


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    with new_page(browser, request) as pg:
        yield pg


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Sandbox, StreamlitServer]]:
    """The sandbox and the app. Asked for before ``page``, so the tabs close first and the server then stops at once."""
    # The task runs until this test finishes it, so it surely finishes while the disk is read-only.
    with Sandbox(timing=Timing(image_queued=0.1, image_processing=3600)) as sandbox, served_app(
        sandbox, tmp_path / "data", MEDIA_DIR=str(tmp_path / "media")
    ) as app:
        yield sandbox, app


def test_an_open_page_says_the_log_cannot_be_written_and_comes_back_by_itself(
    served: tuple[Sandbox, StreamlitServer], page: Page, tmp_path: Path
) -> None:
    sandbox, app = served
    open_page(page, f"{app.url}/image")
    prompt = "a lighthouse on a disk that turns read-only"
    type_prompt(page, prompt)
    page.locator(".st-key-generate-row").get_by_role("button", name=re.compile("Generate")).click()
    (task,) = tasks_with(sandbox, prompt, at_least=1)
    log_file = tmp_path / "data" / "tasklog.sqlite3"
    gallery = page.context.new_page()  # another tab
    open_page(gallery, f"{app.url}/gallery")

    with read_only_disk(log_file):
        with sandbox.state.lock:
            task.processing_for = 0  # Rivya finishes (and charges) the job now
        expect(page.get_by_text(READ_ONLY)).to_be_visible(timeout=NOTICED)
        expect(gallery.get_by_text(READ_ONLY)).to_be_visible(timeout=NOTICED)
        expect(gallery.locator("h1")).to_have_text("Gallery")
        expect(page.locator(GENERATE_ENABLED)).to_have_count(0)
        expect(page.locator("h1")).to_have_text("Image")
        expect(page.get_by_test_id("stException")).to_have_count(0)

    expect(page.get_by_text(READ_ONLY)).to_have_count(0, timeout=NOTICED)
    expect(gallery.get_by_text(READ_ONLY)).to_have_count(0, timeout=NOTICED)
    expect(page.locator(GENERATE_DISABLED)).to_have_count(0)
    expect(page.locator(GENERATE_ENABLED)).to_have_count(1)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text(re.compile(r"\bDone\b")).first).to_be_visible(timeout=NOTICED)  # the card, by itself
    log = TaskLog(log_file)
    (job,) = log.where("prompt = ?", (prompt,))
    assert job.status == "succeeded" and job.task_id == task.id and log.count() == 1
    assert len([t for t in sandbox.state.tasks.values() if t.prompt == prompt]) == 1
    log.close()
