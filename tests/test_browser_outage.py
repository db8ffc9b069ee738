"""The job log goes away under an open page (real server, Chromium, a real PostgreSQL server of this test's own).

Nobody touches the page: it turns to its outage notice with Generate off when the log stops answering, a reload
keeps the frame, and it comes back by itself once the server is up again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from rivya.sandbox import Sandbox

from .browser_support import (
    GENERATE_DISABLED,
    GENERATE_ENABLED,
    StreamlitServer,
    new_page,
    open_page,
    served_app,
    type_prompt,
)
from .conftest import FAST_TIMING
from .postgres_server import PostgresServer

pytestmark = pytest.mark.browser

UNREACHABLE = "The job log cannot be reached right now."
# The watcher notices within its idle interval (10 s), the outage poll within 3 s: generous for a loaded machine.
NOTICED = 60_000


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    with new_page(browser, request) as pg:
        yield pg


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[PostgresServer, StreamlitServer]]:
    """The log's own database server and the app. Asked for before ``page``, so the tab closes first and the app then
    stops at once."""
    with Sandbox(timing=FAST_TIMING) as sandbox, PostgresServer() as database, served_app(
        sandbox, tmp_path / "data", DATABASE_URL=database.create_database(), MEDIA_DIR=str(tmp_path / "media")
    ) as app:
        yield database, app


def test_an_open_page_says_the_log_is_unreachable_and_comes_back_by_itself(
    served: tuple[PostgresServer, StreamlitServer], page: Page
) -> None:
    database, app = served
    open_page(page, f"{app.url}/image")
    type_prompt(page, "a lighthouse while the log comes and goes")  # Generate waits for a prompt of its own
    expect(page.locator(GENERATE_ENABLED)).to_have_count(1)

    database.halt()
    expect(page.get_by_text(UNREACHABLE)).to_be_visible(timeout=NOTICED)
    expect(page.locator(GENERATE_ENABLED)).to_have_count(0)
    expect(page.locator(GENERATE_DISABLED)).not_to_have_count(0)
    expect(page.locator("h1")).to_have_text("Image")
    expect(page.get_by_test_id("stSidebarNav").get_by_text("Gallery")).to_be_visible()  # the navigation stays
    expect(page.get_by_test_id("stException")).to_have_count(0)

    page.reload()  # a new page run during the outage: the same frame and words
    expect(page.get_by_text(UNREACHABLE)).to_be_visible(timeout=NOTICED)
    expect(page.locator("h1")).to_have_text("Image")
    expect(page.locator(GENERATE_ENABLED)).to_have_count(0)
    expect(page.locator(GENERATE_DISABLED)).not_to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)

    database.resume()
    expect(page.get_by_text(UNREACHABLE)).to_have_count(0, timeout=NOTICED)
    type_prompt(page, "a lighthouse once the log is back")  # the reload began a new session, its box empty
    expect(page.locator(GENERATE_DISABLED)).to_have_count(0)
    expect(page.locator(GENERATE_ENABLED)).to_have_count(1)
    expect(page.get_by_test_id("stException")).to_have_count(0)
