"""History in headless Chromium on the real server: it follows the log without a reload, hidden filters stay in sight
as chips, and a phone shows each job's status without scrolling sideways.

The grid draws on a canvas; its cells are read from the accessible table it keeps beside it, which holds the rows and
columns on screen only (so a column there is one a person sees without scrolling)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from rivya.sandbox import Sandbox
from rivya.tasklog import TaskLog

from .browser_support import StreamlitServer, new_page, open_page, served_app
from .conftest import image_bytes
from .test_gallery import add_result

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1400, "height": 1000}
# Generous: the page looks when the log changes (ui.live; every 2 s without the feed) and then runs once; a loaded
# machine is slow.
LIVE_TIMEOUT = 20_000
WAIT = 20_000  # any other step: two shared cores under other suites draw a page in seconds, not milliseconds


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    """The app on a log with two finished jobs (one failed) of another backend: the follower leaves them alone."""
    data = tmp_path_factory.mktemp("history")
    log = TaskLog(data / "tasklog.sqlite3")
    for n, (prompt, status) in enumerate([("an orchid in the rain", "succeeded"), ("a storm at sea", "failed")]):
        job = log.add(idempotency_key=f"seed-{n}", backend="elsewhere", model="grok-imagine", category="image",
                      prompt=prompt, params={"aspect_ratio": "1:1"})
        log.update(job.id, status=status, reserved_credits=4, final_credits=4 if status == "succeeded" else 0)
    log.close()
    with Sandbox() as sandbox, served_app(sandbox, data) as server:
        yield server


def jobs_caption(page: Page, text: str) -> None:
    expect(page.get_by_text(text)).to_be_visible(timeout=LIVE_TIMEOUT)


def test_history_shows_a_jobs_new_state_without_a_reload(browser: Browser, app: StreamlitServer,
                                                          request: pytest.FixtureRequest) -> None:
    log = TaskLog(app.data_dir / "tasklog.sqlite3")
    job = log.add(idempotency_key="live", backend="elsewhere", model="grok-imagine", category="image",
                  prompt="a kite over the dunes", params={"aspect_ratio": "1:1"})
    log.update(job.id, status="queued", reserved_credits=4)
    with new_page(browser, request, viewport=LAPTOP) as page:
        open_page(page, f"{app.url}/history")
        expect(page.get_by_text("1 job(s) still running")).to_be_visible(timeout=15_000)
        cells = page.get_by_test_id("stDataFrame").locator("td")
        expect(cells.filter(has_text="a kite over the dunes")).to_have_count(1, timeout=WAIT)
        expect(cells.filter(has_text=re.compile("^Queued$"))).to_have_count(1, timeout=WAIT)  # the one running job: this one
        expect(cells.filter(has_text=re.compile("^Done$"))).to_have_count(1, timeout=WAIT)
        page.evaluate("window.notReloaded = true")
        result = app.data_dir / "media" / "kite.png"
        result.parent.mkdir(exist_ok=True)
        result.write_bytes(image_bytes("PNG", (64, 64), "orange"))
        log.update(job.id, status="succeeded", final_credits=4, media_paths=[str(result)])
        expect(page.get_by_text("1 job(s) still running")).to_have_count(0, timeout=LIVE_TIMEOUT)
        expect(cells.filter(has_text=re.compile("^Queued$"))).to_have_count(0, timeout=WAIT)
        expect(cells.filter(has_text=re.compile("^Done$"))).to_have_count(2, timeout=WAIT)  # the kite's row now says Done
        expect(page.get_by_text("Jobs by status — Done: 2 · Failed: 1")).to_be_visible(timeout=WAIT)
        assert page.evaluate("window.notReloaded === true")  # the same page, redrawn in place
        # A job added meanwhile shows too, and the count with it.
        log.add(idempotency_key="live-2", backend="elsewhere", model="grok-imagine", category="image",
                prompt="a lantern festival", params={})
        jobs_caption(page, "4 of 4 jobs, newest first")
        expect(cells.filter(has_text="a lantern festival")).to_have_count(1, timeout=WAIT)
        assert page.evaluate("window.notReloaded === true")
        expect(page.get_by_test_id("stException")).to_have_count(0, timeout=WAIT)
    log.close()


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1400", "390"])
def test_a_status_chosen_under_more_filters_stays_in_sight_as_a_chip(
        browser: Browser, app: StreamlitServer, request: pytest.FixtureRequest, viewport: dict) -> None:
    with new_page(browser, request, viewport=viewport) as page:
        open_page(page, f"{app.url}/history")
        caption = page.get_by_text("jobs, newest first")
        expect(caption).to_be_visible(timeout=15_000)
        every = caption.inner_text().split(" of ")[0]
        # The first screen builds one filter (the search box): the others, the page box and the sidebar's key box are
        # built when their popover opens (each widget kind is a script the browser loads and runs on every visit).
        expect(page.get_by_test_id("stDataFrame")).to_be_visible(timeout=WAIT)
        for kind in ("stMultiSelect", "stButtonGroup", "stDateInput", "stNumberInput"):
            expect(page.get_by_test_id(kind)).to_have_count(0)
        expect(page.get_by_test_id("stSidebar").get_by_test_id("stTextInput")).to_have_count(0)
        page.get_by_role("button", name="More filters").click()
        expect(page.get_by_test_id("stButtonGroup").filter(has_text="Show only")).to_be_visible(timeout=WAIT)
        expect(page.get_by_test_id("stMultiSelect").filter(has_text="Model")).to_be_visible(timeout=WAIT)
        page.get_by_test_id("stMultiSelect").filter(has_text="Status").get_by_role("combobox").click()
        page.get_by_role("option", name="Failed").click()
        # The popover stays open while choosing (its label now counts the choice): one Escape closes the options list.
        expect(page.get_by_role("dialog", name="More filters (1)")).to_be_visible(timeout=WAIT)
        page.keyboard.press("Escape")  # the options list
        page.keyboard.press("Escape")  # the popover
        expect(page.get_by_test_id("stMultiSelect").filter(has_text="Status")).to_be_hidden(timeout=WAIT)
        chip = page.get_by_role("button", name="Status: Failed")
        expect(chip).to_be_visible(timeout=WAIT)
        expect(page.get_by_role("button", name="More filters (1)")).to_be_visible(timeout=WAIT)
        jobs_caption(page, f"1 of {every} jobs, newest first")
        chip.click()
        expect(chip).to_have_count(0, timeout=WAIT)
        jobs_caption(page, f"{every} of {every} jobs, newest first")
        expect(page.get_by_test_id("stException")).to_have_count(0, timeout=WAIT)


def test_a_phone_shows_the_status_beside_the_picture(browser: Browser, app: StreamlitServer,
                                                      request: pytest.FixtureRequest) -> None:
    with new_page(browser, request, viewport=PHONE) as page:
        open_page(page, f"{app.url}/history")
        grid = page.get_by_test_id("stDataFrame")
        expect(grid).to_be_visible(timeout=15_000)
        grid.scroll_into_view_if_needed()
        # The grid renders what is on screen only: a Status header there is one a person sees without scrolling.
        expect(grid.locator("th").filter(has_text="Status")).to_have_count(1, timeout=WAIT)
        expect(grid.locator("td").filter(has_text=re.compile("^Failed$"))).to_have_count(1, timeout=WAIT)
        box = grid.bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]
        csv = page.get_by_role("button", name="Download CSV")
        grid.hover()  # the grid's toolbar shows on hover, top right: it must not cover the download button
        toolbar = page.get_by_test_id("stElementToolbar").last
        expect(toolbar).to_be_visible(timeout=WAIT)
        tool, button = toolbar.bounding_box(), csv.bounding_box()
        assert tool is not None and button is not None
        overlap = (min(tool["x"] + tool["width"], button["x"] + button["width"]) > max(tool["x"], button["x"])
                   and min(tool["y"] + tool["height"], button["y"] + button["height"]) > max(tool["y"], button["y"]))
        assert not overlap, (tool, button)


def test_a_new_search_clears_the_tables_selection_in_the_browser_too(browser: Browser, app: StreamlitServer,
                                                                       request: pytest.FixtureRequest) -> None:
    """One table for every filter (``ui.history.TABLE``): the server clears its selection on a new filter, and the
    browser must show and send back none, or row 1 of the new rows (another job) would be "selected" next run."""
    with new_page(browser, request, viewport=LAPTOP) as page:
        open_page(page, f"{app.url}/history")
        grid = page.get_by_test_id("stDataFrame")
        expect(grid.locator("td").filter(has_text="an orchid in the rain")).to_have_count(1, timeout=WAIT)
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 16, box["y"] + 35 + 28)  # the newest row's tick box: below the 35 px header
        selected = page.get_by_role("heading", name="Selected job")
        expect(selected).to_be_visible(timeout=WAIT)
        search = page.get_by_role("textbox", name="Search prompts")
        search.fill("orchid")
        search.press("Enter")  # the orchid job (the module's oldest) is now the table's first row
        one = re.compile(r"^1 of \d+ jobs, newest first$")
        expect(page.get_by_text(one)).to_be_visible(timeout=WAIT)
        expect(selected).to_have_count(0, timeout=WAIT)
        page.get_by_role("button", name="Refresh balance").click()  # a whole run: the browser sends the table's state
        expect(page.get_by_text(re.compile("Read from Rivya at"))).to_be_visible(timeout=WAIT)
        page.get_by_role("button", name="Refresh balance").click()
        expect(page.get_by_text(one)).to_be_visible(timeout=WAIT)
        expect(selected).to_have_count(0, timeout=WAIT)
        expect(page.get_by_test_id("stException")).to_have_count(0, timeout=WAIT)


def test_full_size_and_compare_on_history_open_their_dialogs_one_at_a_time(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest,
) -> None:
    """The selected job's Full size and Compare are pressed in the jobs part (a fragment), whose own rerun draws no
    dialog: each hands over to a run of the page, which draws it (Full size only changed the address before). Closing
    the large view takes it out of the address, so Compare then shows alone (Streamlit draws one dialog a run)."""
    log = TaskLog(tmp_path / "tasklog.sqlite3")
    for n, prompt in enumerate(("a heron at dawn", "a heron at dusk")):
        add_result(log, tmp_path / "media", prompt, model="grok-imagine", days_ago=1 - n, real=True,
                   params={"aspect_ratio": "1:1"})
    log.close()
    with Sandbox() as sandbox, served_app(sandbox, tmp_path) as server, \
            new_page(browser, request, viewport=LAPTOP) as page:
        open_page(page, f"{server.url}/history")
        grid = page.get_by_test_id("stDataFrame")
        expect(grid.locator("td").filter(has_text="a heron at dusk")).to_have_count(1, timeout=WAIT)
        box = grid.bounding_box()
        assert box is not None
        row_height = 56  # ui.history's picture rows, below the 35 px header
        page.mouse.click(box["x"] + 16, box["y"] + 35 + row_height / 2)  # the newest row's tick box
        expect(page.get_by_role("heading", name="Selected job")).to_be_visible(timeout=WAIT)
        page.get_by_role("button", name="Full size").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("a heron at dusk").first).to_be_visible(timeout=WAIT)
        assert "job=" in page.url
        page.keyboard.press("Escape")
        expect(dialog).to_have_count(0, timeout=WAIT)
        grid.scroll_into_view_if_needed()  # the page scrolled to the card
        box = grid.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 16, box["y"] + 35 + row_height * 1.5)  # the second row too
        expect(page.get_by_text("2 selected")).to_be_visible(timeout=WAIT)
        page.get_by_role("button", name="Compare").click()
        expect(dialog.get_by_role("heading", name="Compare")).to_be_visible(timeout=WAIT)
        expect(dialog).to_have_count(1)
        expect(page.get_by_test_id("stException")).to_have_count(0)
