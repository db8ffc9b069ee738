"""The generate pages in headless Chromium on the real server: Ctrl+Enter, a batch of three, Animate end to end, the
prompt library staying open, the cost on Generate, Generate waiting for a prompt, the new job in view."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import TaskLog

from .browser_support import (
    ARTIFACTS,
    GENERATE_DISABLED,
    GENERATE_ENABLED,
    StreamlitServer,
    new_page,
    open_page,
    served_app,
    tasks_with,
    type_prompt,
)

pytestmark = pytest.mark.browser
TIMING = Timing(image_queued=0.3, image_processing=1.0, video_queued=0.3, video_processing=1.5)
RESULT_TIMEOUT = 40_000


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=TIMING) as server:
        yield server


@pytest.fixture(scope="module")
def app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    with served_app(sandbox, tmp_path_factory.mktemp("data"), DAILY_CREDIT_BUDGET="5000") as server:
        yield server


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    with new_page(browser, request) as pg:
        yield pg





def results(page: Page) -> object:
    return page.locator(".st-key-results").get_by_test_id("stImage").locator("img")


def generate(page: Page) -> object:
    return page.locator(".st-key-generate-row").get_by_role("button", name=re.compile("Generate"))


def wait_in_view(page: Page, locator: object, *, upper_half: bool = False, timeout: float = RESULT_TIMEOUT) -> None:
    """Wait until the element's box lies within the viewport (its upper half) as the page has scrolled it."""
    page.wait_for_function(
        """([el, half]) => { const r = el.getBoundingClientRect();
                             return r.top >= 0 && r.bottom <= window.innerHeight / (half ? 2 : 1); }""",
        arg=[locator.element_handle(), upper_half], timeout=timeout,
    )


def test_ctrl_enter_generates_and_the_prompt_keeps_focus(page: Page, app: StreamlitServer, sandbox: Sandbox) -> None:
    open_page(page, f"{app.url}/image")
    expect(page.get_by_role("button", name=re.compile("Generate"))).to_contain_text(re.compile(r"Ctrl\s*\+\s*Enter"))
    box = page.get_by_role("textbox", name="Prompt", exact=True)
    box.fill("A keyboard shortcut fox")
    box.press("Control+Enter")
    (task,) = tasks_with(sandbox, "A keyboard shortcut fox", at_least=1)
    assert task.prompt == "A keyboard shortcut fox"  # the typed text, committed before the press reached Generate
    expect(results(page).first).to_be_visible(timeout=RESULT_TIMEOUT)
    expect(box).to_be_focused()
    box.press("End")
    box.type(", in snow")  # typed on in the box that kept the focus, never left
    box.press("Control+Enter")
    assert len(tasks_with(sandbox, "A keyboard shortcut fox, in snow", at_least=1)) == 1
    expect(box).to_be_focused()
    page.wait_for_timeout(1500)
    assert len(tasks_with(sandbox, "A keyboard shortcut fox")) == 1


def test_a_batch_of_three_from_the_browser(page: Page, app: StreamlitServer, sandbox: Sandbox) -> None:
    open_page(page, f"{app.url}/image")
    type_prompt(page, "Three takes of a heron")
    page.get_by_role("radiogroup", name="How many").get_by_role("radio", name="3", exact=True).click()
    expect(generate(page)).to_contain_text("Generate 3 · 12 credits")  # shown before anything is sent
    assert not tasks_with(sandbox, "Three takes of a heron", timeout=0)
    page.get_by_role("button", name=re.compile("Generate")).dblclick()
    tasks = tasks_with(sandbox, "Three takes of a heron", at_least=3)
    keys = [e.idempotency_key for e in sandbox.journal if e.method == "POST" and e.path == "/api/v1/generations"
            and e.task_id in {t.id for t in tasks}]
    assert len(tasks) == 3 and len(set(keys)) == 3
    log = TaskLog(app.data_dir / "tasklog.sqlite3")
    jobs = log.where("prompt = ?", ("Three takes of a heron",))
    assert len(jobs) == 3 and len({j.batch_id for j in jobs}) == 1 and jobs[0].batch_id
    page.wait_for_function("() => document.querySelectorAll('.st-key-results [data-testid=stImage] img').length >= 3",
                           timeout=RESULT_TIMEOUT)
    page.wait_for_timeout(1500)
    assert len(tasks_with(sandbox, "Three takes of a heron")) == 3


def test_animate_end_to_end(page: Page, app: StreamlitServer, sandbox: Sandbox) -> None:
    open_page(page, f"{app.url}/image")
    type_prompt(page, "A red kite over a hill")
    page.get_by_role("button", name=re.compile("Generate")).click()
    expect(results(page).first).to_be_visible(timeout=RESULT_TIMEOUT)
    (image_task,) = tasks_with(sandbox, "A red kite over a hill", at_least=1)
    log = TaskLog(app.data_dir / "tasklog.sqlite3")
    (image_job,) = log.where("prompt = ?", ("A red kite over a hill",))
    animate = page.locator(f".st-key-grok-imagine-panel-animate-{image_job.id}").get_by_role("button", name="Animate")
    expect(animate).to_be_visible(timeout=RESULT_TIMEOUT)
    animate.click()
    expect(page).to_have_url(re.compile(r"/video$"), timeout=15_000)
    expect(page.get_by_role("textbox", name="Prompt", exact=True)).to_have_value("A red kite over a hill")
    expect(page.get_by_text(f"from job #{image_job.id}")).to_be_visible(timeout=15_000)
    type_prompt(page, "The kite dances in the wind")
    page.get_by_role("button", name=re.compile("Generate")).click()
    (video_task,) = tasks_with(sandbox, "The kite dances in the wind", at_least=1)
    file_id = video_task.params["referenceMediaItems"][0]["url"].rsplit("/", 1)[-1]
    uploaded = sandbox.state.files[file_id].data
    saved = Path(log.get(image_job.id).media_paths[0])
    assert uploaded == saved.read_bytes()  # the image result's saved bytes, uploaded as the reference
    assert uploaded == requests.get(f"{sandbox.url}/media/{image_task.id}.png", timeout=10).content
    (video_job,) = log.where("prompt = ?", ("The kite dances in the wind",))
    assert video_job.parent_id == image_job.id


@pytest.mark.parametrize(("width", "height"), [(1400, 1000), (390, 844)])
@pytest.mark.parametrize("path", ["image", "video"])
def test_generate_pages_screenshots(browser: Browser, app: StreamlitServer, path: str, width: int, height: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=width < 500)
    page = context.new_page()
    try:
        open_page(page, f"{app.url}/{path}")
        page.get_by_text("Prompt library").click()
        page.get_by_role("tab", name="Presets").click()
        expect(page.get_by_role("button", name="Apply")).to_be_visible()
        page.wait_for_timeout(1000)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        page.screenshot(path=ARTIFACTS / f"generate-{path}-{width}-library.png", full_page=True)
        page.get_by_text("Prompt library").click()  # folded again: the form as people first see it
        page.get_by_role("button", name=re.compile("Generate")).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=ARTIFACTS / f"generate-{path}-{width}-form.png")
    finally:
        context.close()


def test_the_prompt_library_stays_open_after_save_apply_and_rename(page: Page, app: StreamlitServer) -> None:
    open_page(page, f"{app.url}/image")
    page.get_by_text("Prompt library").click()
    page.get_by_role("tab", name="Presets").click()
    apply = page.get_by_role("button", name="Apply")
    elsewhere = page.get_by_text("Model: Grok Imagine")  # the next click, outside the library

    apply.click()
    expect(page.get_by_text(re.compile("^Applied “"))).to_be_visible()
    elsewhere.click()
    type_prompt(page, "A kingfisher on a reed")  # a page run of its own
    expect(apply).to_be_visible()

    page.get_by_role("textbox", name="Save what the form holds as a preset").fill("Kingfisher")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved “Kingfisher” for the whole team.")).to_be_visible()
    elsewhere.click()
    type_prompt(page, "A kingfisher diving")
    expect(apply).to_be_visible()

    picked = page.get_by_role("combobox", name="Preset (most starred results first)")
    expect(picked).to_have_value("Kingfisher")
    page.get_by_role("button", name="Rename").click()
    new_name = page.get_by_role("textbox", name="New name")
    new_name.fill("Blue kingfisher")
    new_name.press("Enter")  # Enter renames
    expect(page.get_by_text("Renamed to “Blue kingfisher”.")).to_be_visible()
    expect(new_name).to_be_hidden()  # the popover closed
    expect(picked).to_have_value("Blue kingfisher")  # the list shows the new name at once
    elsewhere.click()
    type_prompt(page, "A kingfisher at dusk")
    expect(apply).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_renamed_starter_loses_its_badge(page: Page, app: StreamlitServer) -> None:
    open_page(page, f"{app.url}/video")
    page.get_by_text("Prompt library").click()
    page.get_by_role("tab", name="Presets").click()
    picked = page.get_by_role("combobox", name="Preset (most starred results first)")
    expect(picked).to_have_value(re.compile(r"· starter$"))
    page.get_by_role("button", name="Rename").click()
    page.get_by_role("textbox", name="New name").fill("Our opening shot")
    page.get_by_role("button", name="Rename", exact=True).last.click()
    expect(picked).to_have_value("Our opening shot")  # the team's own now: no starter badge


def test_the_cost_is_on_the_button(page: Page, app: StreamlitServer) -> None:
    open_page(page, f"{app.url}/image")
    type_prompt(page, "A cost on the button")
    expect(generate(page)).to_contain_text("Generate · 4 credits")
    how_many = page.get_by_role("radiogroup", name="How many")
    how_many.get_by_role("radio", name="4", exact=True).click()
    expect(generate(page)).to_contain_text("Generate 4 · 16 credits")
    page.get_by_text("Quality mode", exact=True).click()  # a setting: both models bill a fixed price per take
    expect(generate(page)).to_contain_text("Generate 4 · 16 credits")
    how_many.get_by_role("radio", name="2", exact=True).click()
    expect(generate(page)).to_contain_text("Generate 2 · 8 credits")
    page.get_by_role("link", name="Video").click()
    expect(page.locator("h1").first).to_have_text("Video")
    expect(generate(page)).to_contain_text("Generate · 10 credits")  # How many stayed on the Image page
    page.get_by_role("link", name="Image").click()
    expect(page.locator("h1").first).to_have_text("Image")
    expect(generate(page)).to_contain_text("Generate · 4 credits")  # and was not kept after leaving it


def test_generate_waits_for_a_prompt_and_says_why_beside_it(page: Page, app: StreamlitServer, sandbox: Sandbox) -> None:
    open_page(page, f"{app.url}/image")
    box = page.get_by_role("textbox", name="Prompt", exact=True)
    box.fill("")
    box.press("Tab")
    expect(page.locator(GENERATE_DISABLED)).not_to_have_count(0)
    reason = page.get_by_text("Describe the image you want in the prompt box.")
    expect(reason).to_be_visible()
    button, why = generate(page).bounding_box(), reason.bounding_box()
    assert 0 <= why["y"] - (button["y"] + button["height"]) < 40  # right under the button, not below the fold
    box.click()
    box.type("A heron waiting")  # typed, never left: Generate turns on after a pause in typing
    expect(page.locator(GENERATE_ENABLED)).to_have_count(1)
    expect(reason).to_have_count(0)
    expect(box).to_be_focused()
    box.type(" by the river")
    expect(box).to_have_value("A heron waiting by the river")
    assert not tasks_with(sandbox, "A heron waiting", timeout=0)


@pytest.mark.parametrize(("width", "height"), [(1400, 1000), (390, 844)])
def test_after_a_press_the_new_job_is_in_view(browser: Browser, app: StreamlitServer, sandbox: Sandbox,
                                              request: pytest.FixtureRequest, width: int, height: int) -> None:
    with new_page(browser, request, viewport={"width": width, "height": height}, is_mobile=width < 500) as page:
        open_page(page, f"{app.url}/video")
        if width >= 1000:  # the Video page's whole form, Generate included, fits the first screen
            expect(generate(page)).to_be_visible(timeout=30_000)
            wait_in_view(page, generate(page), timeout=15_000)
        prompt = f"A lantern drifting at {width} px"
        type_prompt(page, prompt)
        generate(page).scroll_into_view_if_needed()
        generate(page).click()
        tasks_with(sandbox, prompt, at_least=1)
        (job,) = TaskLog(app.data_dir / "tasklog.sqlite3").where("prompt = ?", (prompt,))
        header = page.locator(".st-key-results").get_by_text(re.compile(rf"Grok Imagine Video · #{job.id}$")).first
        expect(header).to_be_visible(timeout=RESULT_TIMEOUT)
        # Brought to the upper half of the screen by the page, not by the test: on a phone the panel sits under the
        # whole form, and the result under the card's header needs the room below it.
        wait_in_view(page, header, upper_half=True)
        expect(page.get_by_test_id("stException")).to_have_count(0)


def test_use_these_settings_lands_on_the_filled_form_and_says_so(browser: Browser, app: StreamlitServer,
                                                                 sandbox: Sandbox, request: pytest.FixtureRequest) -> None:
    with new_page(browser, request, viewport={"width": 390, "height": 844}, is_mobile=True) as page:
        open_page(page, f"{app.url}/image")
        type_prompt(page, "An otter floating on its back")
        generate(page).scroll_into_view_if_needed()
        generate(page).click()
        tasks_with(sandbox, "An otter floating on its back", at_least=1)
        (job,) = TaskLog(app.data_dir / "tasklog.sqlite3").where("prompt = ?", ("An otter floating on its back",))
        expect(results(page).first).to_be_visible(timeout=RESULT_TIMEOUT)
        type_prompt(page, "Something else entirely")
        # The card's own action row (its details need not be opened); click() scrolls to it and waits for it to hold
        # still, so a panel refresh that redraws the card meanwhile is no race.
        # This job's card once finished (its key is the panel's, then ``reuse`` and the id).
        reuse = page.locator(f".st-key-results .st-key-grok-imagine-panel-reuse-{job.id} button:visible").first
        expect(reuse).to_be_visible(timeout=RESULT_TIMEOUT)
        # The log moves as the person presses (CI once had it so): the page's script wakes its live parts right
        # after the press is sent. The wake must not carry the form's old values back over the filled ones.
        wakes = page.evaluate("window.rivyaLive.wakes")
        page.evaluate("() => document.addEventListener('click', () => setTimeout(() => window.rivyaLive.wake()), "
                      "{capture: true, once: true})")
        reuse.click()
        said = page.get_by_text(f"Settings from job #{job.id} are in the form.")
        expect(said).to_be_visible()
        prompt = page.get_by_role("textbox", name="Prompt", exact=True)
        expect(prompt).to_have_value("An otter floating on its back")
        page.wait_for_function(f"window.rivyaLive.wakes > {wakes}")
        expect(page.locator("[data-test-script-state=notRunning]")).to_have_count(1)
        expect(prompt).to_have_value("An otter floating on its back")
        wait_in_view(page, said, timeout=15_000)  # the page brought the message (and the form under it) into view
        expect(page.get_by_test_id("stException")).to_have_count(0)
