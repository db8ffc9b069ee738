"""Explore in headless Chromium on the real server: one press of `a {red|blue} kettle` × aspect ratio {1:1, 16:9} is
exactly four jobs with four keys, priced before the press, drawn as a 2 × 2 grid labelled by what differs, and kept
(its link opens it again)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from rivya.sandbox import Sandbox, Timing

from .browser_support import ARTIFACTS, StreamlitServer, new_page, open_page, served_app, tasks_with
from .conftest import creates

pytestmark = pytest.mark.browser
TIMING = Timing(image_queued=0.3, image_processing=1.0)
RESULT_TIMEOUT = 40_000
PROMPT = "a {red|blue} kettle"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=TIMING) as server:
        yield server


@pytest.fixture(scope="module")
def app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    with served_app(sandbox, tmp_path_factory.mktemp("data")) as server:
        yield server


def grid_labels(page: Page, *, phone: bool = False) -> None:
    """The grid's column labels (aspect ratios) and row labels (the prompt's choices), and its four results; on a
    phone, where the columns stack, each cell's own label instead."""
    grid = page.locator(".st-key-explore-grid")
    cells = [f"{row} × {column}" for row in ("red", "blue") for column in ("1:1", "16:9")]
    for label in cells if phone else ("1:1", "16:9", "red", "blue"):
        expect(grid.get_by_text(label, exact=True)).to_be_visible(timeout=RESULT_TIMEOUT)
    expect(grid.get_by_test_id("stImage")).to_have_count(4, timeout=RESULT_TIMEOUT)


def test_a_grid_of_two_choices_by_two_aspect_ratios(browser: Browser, request: pytest.FixtureRequest,
                                                      app: StreamlitServer, sandbox: Sandbox) -> None:
    with new_page(browser, request) as page:
        open_page(page, f"{app.url}/explore")
        box = page.get_by_role("textbox", name="Prompt", exact=True)
        box.fill(PROMPT)
        box.press("Tab")
        page.get_by_role("button", name="16:9", exact=True).click()  # 1:1 is chosen already: two values, one axis
        expect(page.get_by_text("2 × 2 = 4 images · 16 credits")).to_be_visible()  # the price, before the press
        assert creates(sandbox) == []
        page.get_by_role("button", name="Explore").click()
        tasks = tasks_with(sandbox, "a blue kettle", at_least=2) + tasks_with(sandbox, "a red kettle", at_least=2)
        grid_labels(page)
        page.screenshot(path=ARTIFACTS / "explore-1400.png", full_page=True)
        grid_url = page.url
    sent = creates(sandbox)
    assert len(sent) == 4 and len({e.idempotency_key for e in sent}) == 4  # a key per cell, each sent once
    assert sorted((t.prompt, t.params["aspect_ratio"], t.params["enable_pro"]) for t in tasks) == [
        ("a blue kettle", "16:9", "false"), ("a blue kettle", "1:1", "false"),
        ("a red kettle", "16:9", "false"), ("a red kettle", "1:1", "false")]
    assert "grid=" in grid_url
    with new_page(browser, request, viewport={"width": 390, "height": 844}) as phone:  # the link opens it again
        open_page(phone, grid_url)
        grid_labels(phone, phone=True)
        expect(phone.locator(".st-key-explore-grid").get_by_text("red", exact=True)).to_be_hidden()
        # The form comes first on a phone: the grid's top at the top of the screen.
        phone.get_by_role("button", name="All grids").evaluate("button => button.scrollIntoView({block: 'start'})")
        expect(phone.locator(".st-key-explore-grid").get_by_test_id("stImage").first).to_be_in_viewport()
        phone.screenshot(path=ARTIFACTS / "explore-390.png")
    assert len(creates(sandbox)) == 4  # the page runs since the press never made a second grid
