"""The real Streamlit server in headless Chromium, on the sandbox: what only a browser shows."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from rivya import RivyaClient
from rivya.page_route import ROOT_SCRIPT
from rivya.recipes import read_recipe
from rivya.sandbox import Sandbox, Timing
from rivya.status import JobStatus
from rivya.tasklog import TaskLog

from .browser_support import (
    ARTIFACTS,
    StreamlitServer,
    generate_button,
    new_page,
    open_page,
    served_app,
    tasks_with,
    type_prompt,
)
from .conftest import image_bytes, until

pytestmark = pytest.mark.browser
SECRET_KEY = "rvya_sk_browser_must_never_see_this_8c2f"
TIMING = Timing(image_queued=0.5, image_processing=2.0, video_queued=0.5, video_processing=3.0)
RESULT_TIMEOUT = 40_000


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=TIMING, api_key=SECRET_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    with served_app(sandbox, tmp_path_factory.mktemp("data")) as server:
        yield server


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    with new_page(browser, request, accept_downloads=True) as pg:
        yield pg







def result_image(page: Page) -> dict:
    img = page.locator(".st-key-results").get_by_test_id("stImage").locator("img").first
    expect(img).to_be_visible(timeout=RESULT_TIMEOUT)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle(), timeout=10_000)
    return img.evaluate("img => ({w: img.naturalWidth, h: img.naturalHeight})")


def test_make_an_image_and_see_it(page: Page, app: StreamlitServer, sandbox: Sandbox) -> None:
    open_page(page, f"{app.url}/image")
    type_prompt(page, "A lighthouse on a cliff at dawn")
    page.get_by_text("16:9", exact=True).click()
    generate_button(page).click()
    assert result_image(page) == {"w": 1024, "h": 576}
    done = page.get_by_text("Done", exact=True)
    expect(done).to_have_count(1)  # the live card leaves when the page run that draws the finished one ends
    expect(done).to_be_visible()
    (task,) = tasks_with(sandbox, "A lighthouse on a cliff at dawn")
    with page.expect_download() as download:
        page.locator(".st-key-results").get_by_role("button", name="Download").first.click()
    saved = Path(download.value.path()).read_bytes()
    original = requests.get(f"{sandbox.url}/media/{task.id}.png", timeout=10).content
    assert download.value.suggested_filename.endswith(".png")
    # The same picture, now carrying how it was made.
    assert Image.open(io.BytesIO(saved)).tobytes() == Image.open(io.BytesIO(original)).tobytes()
    assert read_recipe(saved)["prompt"] == "A lighthouse on a cliff at dawn" and read_recipe(saved)["task_id"] == task.id


def test_make_a_video_with_the_requested_duration(page: Page, app: StreamlitServer, sandbox: Sandbox) -> None:
    open_page(page, f"{app.url}/video")
    type_prompt(page, "Waves rolling onto a beach")
    page.get_by_text("16:9", exact=True).click()
    generate_button(page).click()
    video = page.locator("video").first
    expect(video).to_be_attached(timeout=RESULT_TIMEOUT)
    page.wait_for_function("v => v.readyState >= 1", arg=video.element_handle(), timeout=20_000)
    meta = video.evaluate("v => ({d: v.duration, w: v.videoWidth, h: v.videoHeight})")
    assert meta["d"] == pytest.approx(6, abs=0.1) and (meta["w"], meta["h"]) == (854, 480)


def test_refresh_while_a_job_runs_and_see_it_finish(page: Page, app: StreamlitServer, sandbox: Sandbox) -> None:
    open_page(page, f"{app.url}/image")
    type_prompt(page, "A paper boat in the rain")
    generate_button(page).click()
    expect(page.get_by_text(re.compile("^(Queued|Generating|Sending)…"))).to_be_visible(timeout=10_000)
    page.reload()
    expect(page.locator("h1").first).to_be_visible(timeout=30_000)
    assert result_image(page)["w"] == 1024
    assert len(tasks_with(sandbox, "A paper boat in the rain")) == 1


def test_double_click_makes_one_task(page: Page, app: StreamlitServer, sandbox: Sandbox) -> None:
    open_page(page, f"{app.url}/image")
    type_prompt(page, "Two clicks, one cat")
    generate_button(page).dblclick()
    result_image(page)
    page.wait_for_timeout(1500)
    assert len(tasks_with(sandbox, "Two clicks, one cat")) == 1


def test_reference_image_reaches_the_sandbox(page: Page, app: StreamlitServer, sandbox: Sandbox, tmp_path: Path) -> None:
    ref = tmp_path / "my-sketch.png"
    ref.write_bytes(image_bytes("PNG", (200, 120), "orange"))
    open_page(page, f"{app.url}/image")
    type_prompt(page, "Make this into a painting")
    page.locator("input[type=file]").set_input_files(str(ref))
    expect(page.get_by_text("Attached: my-sketch.png")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("switch", name="Quality mode")).to_be_disabled()
    generate_button(page).click()
    result_image(page)
    files = [f for f in sandbox.state.files.values() if f.name == "my-sketch.png"]
    assert len(files) == 1 and files[0].data == ref.read_bytes()
    (task,) = tasks_with(sandbox, "Make this into a painting", at_least=1)
    assert task.params["referenceMediaItems"][0]["url"].endswith(files[0].id)
    assert "enable_pro" not in task.params


def test_a_renamed_gif_is_refused_with_a_message(page: Page, app: StreamlitServer, sandbox: Sandbox, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.png"
    fake.write_bytes(image_bytes("GIF"))
    open_page(page, f"{app.url}/image")
    page.locator("input[type=file]").set_input_files(str(fake))
    expect(page.get_by_text(re.compile("holiday.png is a GIF"))).to_be_visible(timeout=15_000)
    assert not [f for f in sandbox.state.files.values() if f.name == "holiday.png"]


def test_history_table_charts_row_and_csv(page: Page, app: StreamlitServer, tmp_path: Path) -> None:
    from rivya.tasklog import TaskLog

    log = TaskLog(app.data_dir / "tasklog.sqlite3")
    result = app.data_dir / "media" / "seeded-result.png"
    result.parent.mkdir(exist_ok=True)
    result.write_bytes(image_bytes("PNG", (320, 200), "purple"))
    job = log.add(idempotency_key="seeded-hist", backend="elsewhere", model="grok-imagine", category="image",
                  prompt="The newest seeded orchid", params={"aspect_ratio": "16:9"})
    log.update(job.id, status="succeeded", reserved_credits=4, final_credits=4, media_paths=[str(result)], task_id="task_seeded")
    open_page(page, f"{app.url}/history")
    grid = page.get_by_test_id("stDataFrame")
    expect(grid).to_be_visible(timeout=20_000)  # a first draw on two shared cores under load takes seconds
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    csv = Path(download.value.path()).read_text()
    assert "The newest seeded orchid" in csv and csv.splitlines()[0].startswith("id,submitted_at")
    # Select the first (newest) row: the grid is a canvas, so click where its checkbox is drawn.
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 28)
    expect(page.get_by_role("heading", name="Selected job")).to_be_visible(timeout=10_000)
    expect(page.get_by_text("task_seeded")).to_have_count(0)  # Rivya's task id is in the admins' details only
    selected = page.get_by_test_id("stImage").locator("img").last
    page.wait_for_function("img => img.complete && img.naturalWidth == 320", arg=selected.element_handle())
    page.get_by_role("tab", name="Charts").click()
    expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(3, timeout=10_000)
    page.get_by_role("tab", name="Jobs").click()
    page.get_by_role("button", name="Use these settings").click()
    expect(page).to_have_url(re.compile(r"/image$"), timeout=10_000)
    expect(page.get_by_role("textbox", name="Prompt", exact=True)).to_have_value("The newest seeded orchid")
    expect(page.get_by_role("radio", name="16:9")).to_be_checked()


def test_the_configured_key_never_reaches_the_browser(page: Page, app: StreamlitServer, sandbox: Sandbox) -> None:
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f if isinstance(f, bytes) else f.encode())))
    html = []
    for path in ("", "image", "video", "history"):
        open_page(page, f"{app.url}/{path}")
        if path == "image":
            type_prompt(page, "Key check")
            generate_button(page).click()
            result_image(page)
        page.wait_for_timeout(500)
        html.append(page.content())
    assert frames and html
    secret = SECRET_KEY.encode()
    assert not [f for f in frames if secret in f or secret[8:] in f]
    assert all(SECRET_KEY not in h and SECRET_KEY[8:] not in h for h in html)


def test_every_page_renders_and_nothing_leaves_the_server(browser: Browser, app: StreamlitServer,
                                                           request: pytest.FixtureRequest) -> None:
    """Home, Image, Video, Gallery, History and a large view: no exception, no console error, and every request
    (page, scripts, fonts, icons, the tab's icon, websocket) goes to the app's own address (issue 20, s.5)."""
    own = urlsplit(app.url).netloc
    requested: list[str] = []
    errors: list[str] = []
    with new_page(browser, request) as page:
        page.on("request", lambda r: requested.append(r.url))
        page.on("websocket", lambda ws: requested.append(ws.url))
        page.on("console", lambda m: errors.append(f"{m.text} {m.location.get('url')}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_page(page, f"{app.url}/image")
        prompt = "Nothing leaves the server"
        type_prompt(page, prompt)
        generate_button(page).click()
        result_image(page)
        # The panel also shows other tests' results: wait for this job's own, in the log.
        log = TaskLog(app.data_dir / "tasklog.sqlite3")
        until(lambda: [j for j in log.where("prompt = ?", (prompt,)) if j.status == JobStatus.SUCCEEDED and j.media_paths],
              timeout=RESULT_TIMEOUT / 1000)
        (job,) = log.where("prompt = ?", (prompt,))
        log.close()
        for path in ("", "video", "gallery", "history", f"?job={job.id}"):
            open_page(page, f"{app.url}/{path}")
            if path == "history":
                expect(page.get_by_test_id("stDataFrame")).to_be_visible(timeout=15_000)
            if path == "gallery":
                expect(page.get_by_test_id("stMain").locator(".gallery-tile img").first).to_be_visible(timeout=15_000)
            if path.startswith("?job="):
                expect(page.get_by_role("dialog").get_by_text(f"#{job.id}", exact=False).first).to_be_visible(timeout=30_000)
            page.wait_for_function("!document.querySelector('[data-stale=\"true\"]')")
            expect(page.get_by_test_id("stException")).to_have_count(0)
            icon = page.evaluate("document.querySelector(\"link[rel='shortcut icon']\").href")
            requested.append(icon)  # the tab's icon, whether or not headless Chromium fetches it
            page.screenshot(path=ARTIFACTS / f"page-{path.strip('?=') or 'home'}.png", full_page=True)
    network = [url for url in requested if urlsplit(url).scheme not in ("data", "blob")]
    assert len(network) > 20 and any(urlsplit(url).scheme == "ws" for url in network)
    assert [url for url in network if urlsplit(url).netloc != own] == []
    # Opened at a page's address, Streamlit's start-up asks for its server below that address first
    # (/image/_stcore/health, a 404, then a wait): the page names the root first (rivya/page_route.py).
    assert [url for url in network if re.search(r"/[a-z]+/_stcore/", urlsplit(url).path)] == []
    assert errors == []


def test_the_pages_addresses_carry_the_root_script_and_home_is_streamlits_own(app: StreamlitServer) -> None:
    for path in ("image", "video", "explore", "gallery", "history"):
        answer = requests.get(f"{app.url}/{path}?job=1", timeout=30)
        assert answer.status_code == 200 and ROOT_SCRIPT in answer.text
    assert ROOT_SCRIPT not in requests.get(app.url, timeout=30).text  # Home, at the root, needs nothing
    assert ROOT_SCRIPT not in requests.get(f"{app.url}/home", timeout=30).text  # and Streamlit knows no /home
    assert requests.get(f"{app.url}/history/_stcore/health", timeout=30).status_code == 404


def test_markup_in_a_prompt_shows_as_text(page: Page, app: StreamlitServer) -> None:
    nasty = "<img src=x onerror=window.pwned=1> **bold** [link](http://evil.example)"
    open_page(page, f"{app.url}/image")
    type_prompt(page, nasty)
    generate_button(page).click()
    # Opened on the live card while the job runs (the live part is above the finished results): the finished card
    # that replaces it keeps it open, so a person reading it does not see it snap shut.
    expect(page.get_by_text(re.compile("^(Queued|Generating|Sending)…"))).to_be_visible(timeout=10_000)
    page.locator(".st-key-results").get_by_text("Prompt and settings").first.click()
    result_image(page)  # drawn by the finished card only (a live card draws no result until the page run)
    expect(page.locator(".st-key-results").get_by_text(nasty, exact=True).first).to_be_visible()
    assert page.locator("img[src=x]").count() == 0 and page.evaluate("window.pwned") is None
    assert page.locator(".st-key-results a[href='http://evil.example']").count() == 0


def test_demo_mode_without_a_key(browser: Browser, tmp_path: Path) -> None:
    server = StreamlitServer({"RIVYA_DATA_DIR": str(tmp_path)})
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    try:
        open_page(pg, f"{server.url}/image")
        # The first visit of a fresh server was a deep link: it still gets the app's navigation.
        expect(pg.get_by_test_id("stSidebarNav").get_by_text("History & credits")).to_be_visible()
        type_prompt(pg, "A demo fox")
        generate_button(pg).click()
        assert result_image(pg)["w"] == 1024
        expect(pg.get_by_text("Demo mode.")).to_have_count(0)  # said once, on Home
        pg.screenshot(path=ARTIFACTS / "demo-mode-image.png", full_page=True)
        pg.get_by_test_id("stSidebarNav").get_by_role("link", name="Home").click()
        expect(pg.get_by_text("Demo mode.")).to_be_visible(timeout=30_000)
    finally:
        context.close()
        server.stop()


def test_the_follower_starts_with_the_server(tmp_path: Path) -> None:
    """A job left running before a restart is followed again at once, with no page opened."""
    with Sandbox(timing=TIMING, api_key=SECRET_KEY) as sandbox:
        with RivyaClient(SECRET_KEY, sandbox.url) as client:
            task = client.create_generation("grok-imagine", "left running at the restart", idempotency_key="restart-1")
        log = TaskLog(tmp_path / "tasklog.sqlite3")
        job = log.add(idempotency_key="restart-1", backend=sandbox.url, model="grok-imagine", category="image",
                      prompt="left running at the restart", params={})
        log.update(job.id, status="queued", task_id=task.id, reserved_credits=4)
        server = StreamlitServer({"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": SECRET_KEY, "RIVYA_DATA_DIR": str(tmp_path)})
        try:
            deadline = time.monotonic() + 30
            while log.get(job.id).status != "succeeded" and time.monotonic() < deadline:
                time.sleep(0.2)
            polls = [e for e in sandbox.journal if e.method == "GET" and e.path.endswith(f"/generations/{task.id}")]
            assert polls and log.get(job.id).status == "succeeded"
        finally:
            server.stop()
            log.close()


def test_a_deep_link_to_a_fresh_server_shows_only_the_password_prompt(browser: Browser, tmp_path: Path) -> None:
    """The first visit of a fresh server is where Streamlit would run a pages/ script alone."""
    server = StreamlitServer({"RIVYA_DATA_DIR": str(tmp_path), "APP_PASSWORD": "correct horse"})
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    try:
        pg.goto(f"{server.url}/history")
        prompt = pg.get_by_label("Team password")
        expect(prompt).to_be_visible(timeout=30_000)
        pg.wait_for_timeout(1000)
        expect(pg.locator("h1")).to_have_text(["Imagine Studio"])
        expect(pg.get_by_test_id("stDataFrame")).to_have_count(0)
        expect(pg.locator(".studio-figures")).to_have_count(0)  # History's figures (ui/figures.py), drawn after it
        expect(pg.get_by_test_id("stSidebarNav")).to_have_count(0)
        prompt.fill("correct horse")
        pg.get_by_role("button", name="Enter").click()
        expect(pg.get_by_role("heading", name="History & credits")).to_be_visible(timeout=30_000)
        expect(pg.locator(".studio-figures").get_by_text("Credit balance")).to_be_visible()
        expect(pg.get_by_test_id("stSidebarNav").get_by_role("link", name="Image")).to_be_visible()
    finally:
        context.close()
        server.stop()
