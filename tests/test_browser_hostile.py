"""Hostile replies in a real browser: service text and typed addresses stay text, a broken file is a placeholder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from rivya.sandbox import Sandbox
from rivya.tasklog import Job, TaskLog
from ui.pictures import UNREADABLE

from .browser_support import StreamlitServer, new_page, open_page, served_app
from .conftest import image_bytes

pytestmark = pytest.mark.browser
EVIL_STATUS = "**x** [link](http://evil.example/) :red[y]"
ADDRESSES = "see https://evil.example/x, www.evil.example and ada@evil.example"
NOTE = "The service offered 25 results; the studio kept the first one."


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Job]]:
    """A log of another backend (the follower leaves it alone): a result whose prompt holds addresses and whose reply
    listed 25 links, a job in a status the app does not know, and a result whose saved file is not a picture."""
    data = tmp_path_factory.mktemp("data")
    media = data / "media"
    media.mkdir()
    log = TaskLog(data / "tasklog.sqlite3")

    def add(name: str, status: str, prompt: str, body: bytes | None = None, links: int = 1) -> Job:
        job = log.add(idempotency_key=name, backend="seeded", model="grok-imagine", category="image", prompt=prompt,
                      params={"aspect_ratio": "1:1"})
        fields: dict = {"status": status}
        if body is not None:
            path = media / f"{job.id}-0.png"
            path.write_bytes(body)
            fields |= {"media_paths": [str(path)], "final_credits": 4,
                       "result_urls": [f"https://cdn.example/{job.id}/{n}.png" for n in range(links)]}
        return log.update(job.id, **fields)

    made = {
        "addresses": add("addresses", "succeeded", ADDRESSES, image_bytes("PNG", (320, 240), "teal"), links=25),
        "odd": add("odd", EVIL_STATUS, "a fox in an odd state"),
        "broken": add("broken", "succeeded", "a broken file", b"\x89PNG\r\n\x1a\n" + b"not a picture" * 30),
    }
    log.close()
    return data, made


@pytest.fixture(scope="module")
def app(seeded: tuple[Path, dict[str, Job]]) -> Iterator[StreamlitServer]:
    with Sandbox() as sandbox, served_app(sandbox, seeded[0]) as server:
        yield server


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    with new_page(browser, request) as pg:
        yield pg


def links_to_evil(page: Page) -> list[str]:
    return page.eval_on_selector_all("a[href]", "links => links.map(a => a.href).filter(h => h.includes('evil'))")


def settle(page: Page, text: str) -> None:
    """Wait until ``text`` is shown (Streamlit draws in steps), with no exception on the page."""
    page.wait_for_function("t => document.body.innerText.replaceAll('\\u2060', '').includes(t)", arg=text,
                           timeout=30_000)
    expect(page.get_by_test_id("stException")).to_have_count(0)


@pytest.mark.parametrize(("path", "expected"), [
    ("", ADDRESSES),  # Home's recent results
    ("image", EVIL_STATUS.capitalize()),  # the job panel: the odd status on its card, the address prompt's batch
    ("gallery", ADDRESSES),  # the tiles' prompts
    ("history", f"{EVIL_STATUS.capitalize()}: 1"),  # the figures' "Jobs by status" line
])
def test_service_text_and_typed_addresses_show_as_text(page: Page, app: StreamlitServer, path: str, expected: str) -> None:
    open_page(page, f"{app.url}/{path}")
    settle(page, expected)
    assert links_to_evil(page) == []


def test_the_card_notes_the_results_it_did_not_keep(page: Page, app: StreamlitServer) -> None:
    open_page(page, f"{app.url}/image")
    settle(page, NOTE)


def test_a_file_that_is_not_a_picture_is_a_placeholder_in_the_large_view(
    page: Page, app: StreamlitServer, seeded: tuple[Path, dict[str, Job]]
) -> None:
    open_page(page, f"{app.url}/gallery?job={seeded[1]['broken'].id}")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(UNREADABLE)).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stException")).to_have_count(0)
