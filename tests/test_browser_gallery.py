"""The Gallery in headless Chromium on the real server: tiles, the large view, a ``?job=`` link, Compare.

Results are seeded as the follower leaves them (a log row and a saved file); their Rivya links point at an
address that answers nothing, as an expired link does, so everything shown is served from the saved copy.
Screenshots of the Gallery and Compare (desktop and phone) are saved under test-artifacts/.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect

from rivya import gallery, stars
from rivya.constants import GALLERY_PAGE_SIZE
from rivya.gallery import GalleryFilter
from rivya.sandbox import Sandbox
from rivya.tasklog import Job, TaskLog

from .browser_support import ARTIFACTS, StreamlitServer, sandbox_env
from .test_gallery import add_result

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
SEED = [  # (prompt, model, aspect ratio, days ago)
    ("a lighthouse on a cliff at dawn, watercolor", "grok-imagine", "1:1", 6),
    ("waves rolling onto a quiet beach", "grok-imagine-video", "16:9", 5),
    ("a red fox in fresh snow, photo", "grok-imagine", "1:1", 4),
    ("a tiny robot watering a plant", "grok-imagine", "3:4", 3),
    ("neon city street in the rain at night", "grok-imagine", "16:9", 2),
    ("an owl reading a book by candlelight", "grok-imagine", "1:1", 1),
    ("a misty lighthouse on a cliff at dusk, watercolor", "grok-imagine", "16:9", 0),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Job]]:
    data = tmp_path_factory.mktemp("data")
    log = TaskLog(data / "tasklog.sqlite3")
    made = [add_result(log, data / "media", prompt, model=model, params={"aspect_ratio": ratio}, days_ago=days, real=True,
                       credits=10 if "video" in model else 4, person="ann@example.org", person_name="Ann Lee")
            for prompt, model, ratio, days in SEED]
    log.close()
    return data, made


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as server:
        yield server


def start(sandbox: Sandbox, data: Path) -> StreamlitServer:
    return StreamlitServer(sandbox_env(sandbox, data))


@pytest.fixture(scope="module")
def served(sandbox: Sandbox, seeded: tuple[Path, list[Job]]) -> Iterator[StreamlitServer]:
    """One server for the tests that only read the seeded log (a restart has a test of its own)."""
    server = start(sandbox, seeded[0])
    yield server
    server.stop()


def compare(page: Page, jobs: list[Job]) -> Locator:
    """Pick these tiles, press Compare, and return the dialog once its results are drawn."""
    for job in jobs:
        tile(page, job.id).get_by_role("button", name="Pick").click()
        settled(page)
    page.get_by_role("button", name="Compare", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Different: aspect ratio")).to_be_visible(timeout=20_000)
    loaded_images(dialog)
    return dialog


def tile(page: Page, job_id: int) -> Locator:
    """One result's tile (``ui/tiles.js``): its picture, words, Star, Full size and Pick."""
    return page.locator(f'.gallery-tile[data-job="{job_id}"]')


def settled(page: Page) -> None:
    page.wait_for_function("!document.querySelector('[data-stale=\"true\"]')", timeout=30_000)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def until(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    """Wait for what a press leads to on the server (a row in the log, a part drawn again), with a generous deadline."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not seen within {seconds} s: {what}"
        time.sleep(0.1)


def loaded_images(scope) -> None:
    """Every image in ``scope`` has arrived and decoded (served from the saved copies)."""
    for img in scope.locator("img").all():
        expect(img).to_be_visible(timeout=20_000)
        img.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(), timeout=20_000)


def open_gallery(page: Page, url: str) -> None:
    page.goto(f"{url}/gallery")
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(f"{len(SEED)} results, newest first")).to_be_visible(timeout=30_000)
    settled(page)
    expect(page.get_by_role("button", name="Full size", exact=True).first).to_be_visible(timeout=20_000)
    # Nothing picked: the bar says what a Pick brings; Compare, the ZIP and Clear come with the first.
    expect(page.locator(".st-key-gallery-bar").get_by_text("to compare them")).to_be_visible()
    expect(page.get_by_role("button", name="Compare", exact=True)).to_have_count(0)


def test_a_result_link_opens_after_a_restart_in_a_fresh_browser(
    browser: Browser, sandbox: Sandbox, seeded: tuple[Path, list[Job]],
) -> None:
    data, made = seeded
    video = made[1]
    # A new server process on the seeded data folder: a restart. First in this module, so no other server (the
    # module's ``served``) follows the same log meanwhile.
    server = start(sandbox, data)
    try:
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        page.goto(f"{server.url}/gallery?job={video.id}")
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text(video.prompt, exact=True)).to_be_visible(timeout=90_000)  # a fresh server, a busy machine
        expect(dialog.get_by_text("10 credits")).to_be_visible()
        player = dialog.locator("video")
        expect(player).to_be_attached()
        page.wait_for_function("v => v.readyState >= 1 && v.videoWidth > 0", arg=player.element_handle(), timeout=20_000)
        context.close()
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        page.goto(f"{server.url}/gallery?job=987654")
        expect(page.get_by_role("dialog").get_by_text("There is no result #987654")).to_be_visible(timeout=30_000)
        context.close()
    finally:
        server.stop()


def test_gallery_large_view_link_and_compare(browser: Browser, served: StreamlitServer, seeded: tuple[Path, list[Job]]) -> None:
    _, made = seeded
    newest = made[-1]
    server = served
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    open_gallery(page, server.url)
    loaded_images(page.get_by_test_id("stMain"))
    page.screenshot(path=ARTIFACTS / "gallery-desktop.png", full_page=True)
    tile(page, newest.id).get_by_role("button", name="Full size").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(newest.prompt, exact=True)).to_be_visible(timeout=20_000)
    expect(dialog.get_by_text("4 credits")).to_be_visible()
    expect(dialog.get_by_text("made by Ann Lee")).to_be_visible()
    loaded_images(dialog)
    dialog.screenshot(path=ARTIFACTS / "large-view-desktop.png")
    assert page.url.endswith(f"/gallery?job={newest.id}")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page).not_to_have_url(f"{server.url}/gallery?job={newest.id}")
    dialog = compare(page, [made[-1], made[0]])  # the newest and the oldest lighthouse
    expect(dialog.locator("del")).to_have_count(2)  # "misty" and "dusk," of the first are not in the second
    dialog.screenshot(path=ARTIFACTS / "compare-desktop.png")
    context.close()
    phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = phone.new_page()
    open_gallery(page, server.url)
    loaded_images(page.get_by_test_id("stMain").locator(".stElementContainer").filter(has=page.locator("img")).first)
    page.screenshot(path=ARTIFACTS / "gallery-phone.png")
    compare(page, [made[-1], made[-2]])
    page.screenshot(path=ARTIFACTS / "compare-phone.png", full_page=True)
    phone.close()


def test_a_tile_picture_is_served_only_at_an_address_a_page_was_given(
    browser: Browser, served: StreamlitServer, seeded: tuple[Path, list[Job]],
) -> None:
    """A tile's picture is fetched by the SHA-256 of its bytes (``rivya/tile_route.py``), kept by the browser; no
    other file of the media folder, and no name, is ever an address."""
    data, made = seeded
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    open_gallery(page, served.url)
    loaded_images(page.get_by_test_id("stMain"))
    sources = page.locator(".gallery-tile img").evaluate_all("imgs => imgs.map(i => i.src)")
    context.close()
    assert len(sources) == len(SEED)
    answer = requests.get(sources[0], timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert "immutable" in answer.headers["cache-control"]
    assert sources[0] == f"{served.url}/tiles/{hashlib.sha256(answer.content).hexdigest()}.jpg"
    result = hashlib.sha256(Path(made[0].media_paths[0]).read_bytes()).hexdigest()  # a result, never a tile
    log = hashlib.sha256((data / "tasklog.sqlite3").read_bytes()).hexdigest()
    for path in (f"tiles/{result}.jpg", f"tiles/{log}.jpg", "tiles/..%2Ftasklog.sqlite3.jpg", f"tiles/{'0' * 64}.jpg"):
        assert requests.get(f"{served.url}/{path}", timeout=30).status_code in (400, 404), path  # 400: a bad path


def tile_boxes(page: Page) -> list[dict[str, float]]:
    """Every tile's box, read at one instant once their pictures are drawn (no layout shift between two reads)."""
    loaded_images(page.get_by_test_id("stMain"))
    return page.locator(".gallery-tile").evaluate_all(
        "tiles => tiles.map(t => { const r = t.getBoundingClientRect(); return {y: r.y, height: r.height}; })")


def tile_rows(page: Page) -> list[int]:
    """How many tiles each row of the grid holds, top to bottom (tiles whose tops line up form a row)."""
    tops = [round(box["y"]) for box in tile_boxes(page)]
    return [tops.count(top) for top in sorted(set(tops))]


def test_grid_rows_steps_across_the_filter_and_new_results_arrive_live(
    browser: Browser, served: StreamlitServer, seeded: tuple[Path, list[Job]],
) -> None:
    data, made = seeded
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    open_gallery(page, served.url)
    # The rarer filters are built in the browser only when "More filters" is opened: none is drawn on a visit.
    expect(page.get_by_test_id("stDateInput")).to_have_count(0)
    page.get_by_role("button", name="More filters: dates, people, tags").click()
    expect(page.get_by_test_id("stDateInput")).to_be_visible(timeout=20_000)
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("stDateInput")).to_be_hidden()
    rows = tile_rows(page)
    assert rows[0] >= 5 and rows[:-1] == [rows[0]] * (len(rows) - 1), rows  # at least five a row beside the sidebar
    # One or two prompt lines, a video or not, a preview or not: once every picture is drawn, one height.
    page.wait_for_function("""() => { const ts = [...document.querySelectorAll('.gallery-tile')];
        const imgs = [...document.querySelectorAll('.gallery-tile img')];
        return ts.length && imgs.length === ts.length && imgs.every(i => i.complete && i.naturalWidth > 0)
            && new Set(ts.map(t => Math.round(t.getBoundingClientRect().height))).size === 1; }""", timeout=30_000)
    page.get_by_label("Search prompts or tags").fill("lighthouse")
    page.keyboard.press("Enter")
    expect(page.get_by_text("2 results, newest first")).to_be_visible(timeout=20_000)
    settled(page)
    newest, oldest = made[-1], made[0]  # the two lighthouses, with five other results between them
    tile(page, newest.id).get_by_role("button", name="Full size").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(newest.prompt, exact=True)).to_be_visible(timeout=20_000)
    page.keyboard.press("ArrowRight")  # the arrow key, as Next
    expect(dialog.get_by_text(oldest.prompt, exact=True)).to_be_visible(timeout=20_000)
    expect(page).to_have_url(f"{served.url}/gallery?job={oldest.id}")
    dialog.get_by_role("button", name="Next").click()  # round from the oldest match to the newest
    expect(dialog.get_by_text(newest.prompt, exact=True)).to_be_visible(timeout=20_000)
    page.keyboard.press("ArrowLeft")  # and back round
    expect(dialog.get_by_text(oldest.prompt, exact=True)).to_be_visible(timeout=20_000)
    dialog.get_by_role("button", name="Previous").click()
    expect(dialog.get_by_text(newest.prompt, exact=True)).to_be_visible(timeout=20_000)
    expect(page).to_have_url(f"{served.url}/gallery?job={newest.id}")
    settled(page)  # the dialog's own rerun has ended
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    # Results another person's job left in the log (another process, as the follower does: a row and a saved file):
    # no toast or news for this viewer, and no press here. The first may still be read by the run that closing the
    # dialog started; the second arrives once that run has drawn the first, so only the Gallery's own live watcher
    # (ui/gallery_watch.py ``follow_gallery``) can draw it.
    for count, prompt in ((3, "a lighthouse in a storm"), (4, "a lighthouse under the stars")):
        log = TaskLog(data / "tasklog.sqlite3")
        try:
            arrived = add_result(log, data / "media", prompt, params={"aspect_ratio": "1:1"}, person="bo@example.org")
        finally:
            log.close()
        expect(tile(page, arrived.id)).to_be_visible(timeout=20_000)
        expect(page.get_by_text(f"{count} results, newest first")).to_be_visible()
        settled(page)
    context.close()


def test_phone_grid_is_two_a_row_and_the_selection_bar_stays_in_view(
    browser: Browser, served: StreamlitServer,
) -> None:
    phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(f"{served.url}/gallery")
    expect(page.locator(".st-key-gallery-bar")).to_be_visible(timeout=30_000)
    settled(page)

    def two_a_row() -> bool:  # read once laid out: a fresh-clone run measured the tiles before the grid's style held
        rows = tile_rows(page)
        return bool(rows) and rows[:-1] == [2] * (len(rows) - 1) and rows[-1] in (1, 2)

    until(two_a_row, "two tiles a row")
    tiles = page.locator(".gallery-tile")
    tiles.last.scroll_into_view_if_needed()
    tiles.last.get_by_role("button", name="Pick").click()  # a pick at the bottom of the grid
    bar = page.locator(".st-key-gallery-bar")
    expect(bar.get_by_text("1 picked")).to_be_visible(timeout=20_000)
    settled(page)
    search = page.get_by_label("Search prompts or tags").bounding_box()
    assert search["y"] + search["height"] < 0, search  # what lies above the bar has scrolled out of view
    box = bar.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box  # the bar has not
    expect(bar.get_by_role("button", name="Clear")).to_be_in_viewport()
    phone.close()


def test_on_a_phone_the_search_box_keeps_its_width_beside_one_model(
    browser: Browser, sandbox: Sandbox, tmp_path: Path,
) -> None:
    """With one model's results its single pill fits beside the search box on a phone, which then shrank to a third
    of the screen; the box keeps a width to type in and the pill goes under it."""
    log = TaskLog(tmp_path / "tasklog.sqlite3")
    add_result(log, tmp_path / "media", "a lighthouse on a cliff at dawn", model="grok-imagine", days_ago=0, real=True)
    log.close()
    server = start(sandbox, tmp_path)
    try:
        phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        page = phone.new_page()
        page.goto(f"{server.url}/gallery")
        expect(page.get_by_role("button", name="Grok Imagine", exact=True)).to_be_visible(timeout=30_000)
        settled(page)
        search = page.get_by_label("Search prompts or tags").bounding_box()
        assert search["width"] >= 0.7 * PHONE["width"], search
        phone.close()
    finally:
        server.stop()


TILES = b"studio.gallery_tiles"  # in every message that draws a page of tiles: the element's name


def sent_tile(job: Job) -> bytes:
    """How a tile is recognised in what the server sent: its entry in its page's list (``ui/tiles.py``)."""
    return f'{{"id": {job.id}, '.encode()


def test_load_more_sends_only_the_new_tiles(browser: Browser, served: StreamlitServer, seeded: tuple[Path, list[Job]]) -> None:
    """The tiles already shown are not sent again: "Load more" reruns only the part of the grid after them. Then the
    tiles' presses: Pick, Star, two quick picks, Clear. Last in this module: it adds a page of results to the log the
    others read."""
    data, _ = seeded
    log = TaskLog(data / "tasklog.sqlite3")
    try:
        for n in range(GALLERY_PAGE_SIZE):
            add_result(log, data / "media", f"a paper boat number {n}", params={"aspect_ratio": "1:1"})
        first, second = (page.jobs for page in gallery.page_by_page(log, GalleryFilter(), 2))
    finally:
        log.close()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f if isinstance(f, bytes) else f.encode())))
    page.goto(f"{served.url}/gallery")
    tiles = page.locator(".gallery-tile")
    expect(tiles).to_have_count(GALLERY_PAGE_SIZE, timeout=30_000)
    settled(page)
    assert all(sent_tile(job) in b"".join(frames) for job in first)  # how a sent tile is recognised
    frames.clear()
    page.get_by_role("button", name="Load more").click()
    expect(tiles).to_have_count(len(first) + len(second), timeout=30_000)
    expect(page.get_by_text(f"{len(first) + len(second)} results, newest first")).to_be_visible()
    settled(page)
    sent = b"".join(frames)
    assert all(sent_tile(job) in sent for job in second)
    assert not [job.id for job in first if sent_tile(job) in sent]
    # A page of tiles is one element (``ui/tiles.py``): one message carries all its tiles, and the part's own few
    # (its Load more row, the run's start and end) come with it. It was three messages a tile, 45 a page.
    assert sum(TILES in frame for frame in frames) == 1 and len(frames) <= 15, len(frames)
    frames.clear()
    bar = page.locator(".st-key-gallery-bar")
    tiles.last.get_by_role("button", name="Pick").click()
    expect(bar.get_by_text("1 picked")).to_be_visible(timeout=20_000)
    settled(page)
    # A press draws the results part again, its two pages one message each, so the tiles show what the server holds;
    # the filters are not sent again.
    sent = b"".join(frames)
    assert b"gallery:compare" in sent and sum(TILES in frame for frame in frames) == 2 and b"gallery:text" not in sent
    expect(tiles.last.get_by_role("button", name="Pick")).to_have_attribute("aria-pressed", "true")
    # Star: one press, shown at once and kept in the log; a second press before any tile is drawn again undoes it.
    star, last = tiles.last.get_by_role("button", name="Star"), second[-1].id
    log = TaskLog(data / "tasklog.sqlite3")
    try:
        for on in (True, False):
            star.click()
            expect(star).to_have_attribute("aria-pressed", "true" if on else "false")
            until(lambda on=on: (stars.starred(log, [last], "") == {last}) == on, "the press is kept in the log")
    finally:
        log.close()
    settled(page)
    # Two quick picks on two tiles (the second may be sent while the first's run is under way): both are kept.
    tiles.nth(0).get_by_role("button", name="Pick").click()
    tiles.nth(1).get_by_role("button", name="Pick").click()
    expect(bar.get_by_text("3 picked")).to_be_visible(timeout=20_000)
    settled(page)
    for n in (0, 1, -1):
        expect(tiles.nth(n).get_by_role("button", name="Pick")).to_have_attribute("aria-pressed", "true")
    # Clear: every tile is drawn again unpicked.
    bar.get_by_role("button", name="Clear").click()
    expect(bar.get_by_text("picked")).to_have_count(0, timeout=20_000)
    settled(page)
    expect(page.locator('.gallery-tile button[aria-pressed="true"]')).to_have_count(0)  # the star above ended off
    context.close()
