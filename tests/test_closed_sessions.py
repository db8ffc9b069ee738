"""A closed tab's session is shut down once its reconnect window passes, so the server lets go of what it held.

Streamlit keeps a closed tab's session for ``server.disconnectedSessionTTL`` and then forgets it without
shutting it down: its media files stayed in memory for the life of the process (issue 21's RSS ratchet).
``app.py``'s ``ClosingSessionStore`` shuts each dropped session down. Seen from outside: the media file only
that session showed (the tab's icon) is served while the tab is open, and gone once the window has passed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, expect

from rivya.sandbox import Sandbox

from .browser_support import StreamlitServer, served_app

pytestmark = pytest.mark.browser
TTL_SECONDS = 2


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    with Sandbox() as sandbox, served_app(sandbox, tmp_path_factory.mktemp("data"),
                                          STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL=str(TTL_SECONDS)) as server:
        yield server


def served(url: str) -> int:
    return requests.get(url, timeout=10).status_code


def test_a_closed_tabs_media_is_released_after_its_reconnect_window(browser: Browser, app: StreamlitServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(app.url)
    expect(page.get_by_role("heading", name="Imagine Studio")).to_be_visible(timeout=30_000)
    page.wait_for_function("document.querySelector(\"link[rel='shortcut icon']\").href.includes('/media/')")
    icon = page.evaluate("document.querySelector(\"link[rel='shortcut icon']\").href")
    assert served(icon) == 200  # held for the open tab
    context.close()
    deadline = time.monotonic() + 90  # the window, then the sweep (every TTL_SECONDS here), on a busy machine
    while served(icon) == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert served(icon) == 404, f"the closed session's media file is still held; see {app.log_path}"
    assert "could not be shut down" not in Path(app.log_path).read_text()
