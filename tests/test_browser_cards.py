"""The job card in headless Chromium on the real server: live without a reload, Copy link, toasts that stay put.

One server for the module; each test makes its own jobs. The sandbox keeps every task running until a test lets
them all end (``let_everything_end``), so what the page shows before and after is not a race with the clock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import TaskLog

from .browser_support import (
    StreamlitServer,
    generate_button,
    let_everything_end,
    new_page,
    open_page,
    served_app,
    tasks_with,
    type_prompt,
)

pytestmark = pytest.mark.browser
# A job's new state shows within one refresh of the log (<= 5 s) once the follower records it; the follower polls on
# its own schedule, so the deadlines here are generous: they bound a wait, they do not measure it.
SHOWN_TIMEOUT = 40_000


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=Timing(image_queued=0.3, image_processing=3600, video_queued=0.3, video_processing=3600)) as s:
        yield s


@pytest.fixture(scope="module")
def app(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    with served_app(sandbox, tmp_path_factory.mktemp("cards")) as server:
        yield server



def generate(page: Page, sandbox: Sandbox, prompt: str) -> None:
    """Type ``prompt``, press Generate and wait for the sandbox to hold its task and the card to show it running."""
    type_prompt(page, prompt)
    generate_button(page).click()
    assert tasks_with(sandbox, prompt, at_least=1)
    # While a run of the page is under way its old card may show beside the new one (queued, then generating).
    expect(page.locator(".st-key-results").get_by_text(re.compile("^(Queued|Generating)…")).first).to_be_visible(
        timeout=SHOWN_TIMEOUT)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    with new_page(browser, request) as pg:
        yield pg


def test_a_job_that_ends_shows_on_its_panel_and_on_home_without_a_reload(
    browser: Browser, page: Page, app: StreamlitServer, sandbox: Sandbox, request: pytest.FixtureRequest,
) -> None:
    open_page(page, f"{app.url}/image")
    generate(page, sandbox, "A lighthouse that finishes while I watch")
    with new_page(browser, request) as home:  # another tab, on Home, opened while the job runs
        open_page(home, app.url)
        expect(home.get_by_text(re.compile(r"1 job is still running"))).to_be_visible(timeout=SHOWN_TIMEOUT)
        expect(home.get_by_text("A lighthouse that finishes while I watch")).to_have_count(0)
        navigations = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        home.on("framenavigated", lambda frame: navigations.append(frame.url))
        let_everything_end(sandbox)
        panel = page.locator(".st-key-results")
        # While the page run that moves it to the finished list is under way, the job's live card still shows beside
        # its finished card (Streamlit clears a run's old elements when the run ends): one card once it has ended.
        done = panel.get_by_text("Done", exact=True)
        expect(done).to_have_count(1, timeout=SHOWN_TIMEOUT)
        expect(done).to_be_visible()
        expect(panel.get_by_test_id("stImage").first).to_be_visible(timeout=SHOWN_TIMEOUT)
        expect(home.get_by_text("A lighthouse that finishes while I watch")).to_be_visible(timeout=SHOWN_TIMEOUT)
        expect(home.get_by_text(re.compile(r"still running"))).to_have_count(0)
        assert navigations == []  # neither tab was reloaded


def _reruns_sent(frames: list[bytes | str]) -> list[tuple[str, set[str]]]:
    """Each rerun the page asked for: the fragment it runs ("" for the whole page) and the buttons it presses, by key."""
    reruns = []
    for frame in frames:
        if isinstance(frame, bytes):
            message = BackMsg()
            message.ParseFromString(frame)
            if message.WhichOneof("type") == "rerun_script":
                rerun = message.rerun_script
                pressed = {w.id.split("-", 2)[-1] for w in rerun.widget_states.widgets if w.trigger_value}
                reruns.append((rerun.fragment_id, pressed))
    return reruns


def _runs_finished(frames: list[bytes | str]) -> int:
    """How many script runs (of the page or of a part) the server has said are finished."""
    finished = 0
    for frame in frames:
        if isinstance(frame, bytes):
            message = ForwardMsg()
            message.ParseFromString(frame)
            finished += message.WhichOneof("type") == "script_finished"
    return finished


def _wakes_sent(frames: list[bytes | str]) -> list[set[str]]:
    """For each rerun the page asked for, the wake buttons it presses (``ui/live.py``'s hidden buttons)."""
    return [{k.split("livewake-")[1] for k in pressed if "livewake-" in k} for _, pressed in _reruns_sent(frames)]


def _press_with_a_wake(page: Page, sent: list[bytes | str], press: Callable[[], None]) -> int:
    """``press()`` (a person's key) made while a wake's press waits to be sent, so both go as one batch; returns the
    index, in what the page asked for, of that batch: a run of the woken part carrying the person's press too.

    The wake's first press holds the page's main thread until the person's key waits in its queue (input goes first:
    the browser handles the key before Streamlit's zero-delay timer sends the presses it holds).
    """
    expect(page.locator("[data-test-script-state=notRunning]")).to_have_count(1)
    sent.clear()
    with page.expect_console_message(lambda message: message.text == "holding"):
        page.evaluate("""() => {
            const click = HTMLButtonElement.prototype.click;
            HTMLButtonElement.prototype.click = function () {
                click.call(this);
                if (!this.closest("[class*='st-key-livewake-']")) return;
                HTMLButtonElement.prototype.click = click;
                console.log("holding");
                const end = performance.now() + 10000;
                while (!navigator.scheduling.isInputPending() && performance.now() < end) {}
            };
            setTimeout(() => window.rivyaLive.wake());
        }""")
    press()

    def together() -> list[int]:
        return [n for n, (part, pressed) in enumerate(_reruns_sent(sent))
                if part and any("livewake-" not in k for k in pressed)]

    assert _wait_for(page, lambda: bool(together())), f"the key did not go with the wake's press: {_reruns_sent(sent)}"
    return together()[0]


def _wait_for(page: Page, check: Callable[[], bool], seconds: float = 20) -> bool:
    """Let the page's frames come in (Playwright hands them over while the page waits) until ``check()`` holds or
    ``seconds`` have passed; whether it holds. The time bounds the wait; passing does not wait for it."""
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    return check()


def test_a_press_that_goes_with_a_wake_still_runs_the_page(
    browser: Browser, app: StreamlitServer, sandbox: Sandbox, request: pytest.FixtureRequest,
) -> None:
    """On a busy page the browser handles a person's key before Streamlit sends a wake's press (input goes first), and
    both go as one batch, which reruns only the woken part: Generate's callback runs, the page does not. The woken
    part then runs the page from the server (``ui/live.py``), so the press is not lost."""
    sent: list[bytes | str] = []
    prompt = "A press that goes with a wake"
    with new_page(browser, request) as page:
        page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
        open_page(page, f"{app.url}/image")
        type_prompt(page, prompt)
        button = generate_button(page)
        expect(button).to_be_enabled()
        button.focus()
        together = _press_with_a_wake(page, sent, lambda: page.keyboard.press("Enter"))
        assert tasks_with(sandbox, prompt, at_least=1, timeout=SHOWN_TIMEOUT / 1000), _reruns_sent(sent)
        (job,) = TaskLog(app.data_dir / "tasklog.sqlite3").where("prompt = ?", (prompt,))
        # Its card, drawn by a run of the page; Playwright hands over the page's sent frames while it waits for it.
        expect(page.locator(f".st-key-grok-imagine-panel-card-{job.id}")).to_be_visible(timeout=SHOWN_TIMEOUT)
        reruns = _reruns_sent(sent)
        assert any(k.endswith(":generate") for k in reruns[together][1]), reruns
        # The page ran from the server: the browser asked for no run of the whole page after the batch.
        assert all(part for part, _ in reruns[together:]), reruns


def test_apply_that_goes_with_a_wake_fills_the_form(
    browser: Browser, app: StreamlitServer, request: pytest.FixtureRequest,
) -> None:
    """Apply's callback puts a preset's prompt in the form. Gone with a wake's press, it runs in the woken part's run;
    the page run that follows starts from what the server holds, so the browser's older (empty) prompt, which any
    press from the browser would carry, does not undo it."""
    sent: list[bytes | str] = []
    with new_page(browser, request) as page:
        page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
        open_page(page, f"{app.url}/video")  # its starter preset
        page.get_by_text("Prompt library").click()
        page.get_by_role("tab", name="Presets").click()
        expect(page.get_by_role("combobox", name="Preset (most starred results first)")).to_have_value(
            re.compile(r"^Slow camera push-in"))
        prompt = page.get_by_role("textbox", name="Prompt")
        expect(prompt).to_have_value("")
        page.get_by_role("button", name="Apply").focus()
        together = _press_with_a_wake(page, sent, lambda: page.keyboard.press("Enter"))
        expect(page.get_by_text("Applied “Slow camera push-in”.")).to_be_visible(timeout=SHOWN_TIMEOUT)
        expect(prompt).to_have_value(re.compile(r"^Slow camera push-in on a steaming cup of tea"))
        reruns = _reruns_sent(sent)
        assert all(part for part, _ in reruns[together:]), reruns  # the page ran from the server


def test_a_wake_leaves_an_open_popover_open(
    browser: Browser, app: StreamlitServer, request: pytest.FixtureRequest,
) -> None:
    """A wake presses a hidden button by script; a click the page sees outside an open popover closes it, so the
    person typing a preset's new name while jobs run would lose the box at every change of the log."""
    sent: list[bytes | str] = []
    received: list[bytes | str] = []

    def listen(ws: WebSocket) -> None:
        ws.on("framesent", lambda frame: sent.append(frame))
        ws.on("framereceived", lambda frame: received.append(frame))

    with new_page(browser, request) as page:
        page.on("websocket", listen)
        open_page(page, f"{app.url}/video")
        page.get_by_text("Prompt library").click()
        page.get_by_role("tab", name="Presets").click()
        page.get_by_role("button", name="Rename").click()
        new_name = page.get_by_role("textbox", name="New name")
        new_name.fill("Half typed")
        expect(page.locator("[data-test-script-state=notRunning]")).to_have_count(1)
        sent.clear()
        finished = _runs_finished(received)
        page.evaluate("() => window.rivyaLive.wake()")
        assert _wait_for(page, lambda: bool(_wakes_sent(sent))), "the wake sent nothing"
        assert _wait_for(page, lambda: _runs_finished(received) > finished), "the woken part's run never finished"
        expect(page.locator("[data-test-script-state=notRunning]")).to_have_count(1)
        expect(new_name).to_be_visible()
        expect(new_name).to_have_value("Half typed")


def test_only_a_press_on_a_control_holds_the_pages_updates_back(
    browser: Browser, app: StreamlitServer, request: pytest.FixtureRequest,
) -> None:
    """A wake waits for the run a person's press starts (``ui/live.py``'s gesture rule). A click on words or on empty
    space starts none, so it must not count: the page's updates would wait ``GESTURE_MS`` for a run that never comes."""
    with new_page(browser, request) as page:
        open_page(page, f"{app.url}/image")
        expect(page.locator("[data-test-script-state=notRunning]")).to_have_count(1)
        page.wait_for_function("() => window.rivyaLive && window.rivyaLive.watching")
        before = page.evaluate("() => window.rivyaLive.gesture")  # when the last press that counts was made
        page.locator("h1").first.click()
        page.get_by_text("Model: Grok Imagine").click()
        assert page.evaluate("() => window.rivyaLive.gesture") == before
        page.get_by_text("Quality mode").click()  # a control's label: its press counts
        assert page.evaluate("() => window.rivyaLive.gesture") > before


def test_a_wake_on_a_busy_page_reaches_every_live_part(
    browser: Browser, app: StreamlitServer, request: pytest.FixtureRequest,
) -> None:
    """Streamlit sends the presses it holds as one batch for one fragment: two wake presses that run together on a
    busy page would rerun one part and lose the other's press. Each part gets a request of its own."""
    sent: list[bytes | str] = []
    with new_page(browser, request) as page:
        page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
        open_page(page, app.url)  # Home: its Recent results and the notices' watcher are live parts
        buttons = page.locator("[class*='st-key-livewake-'] button")
        expect(buttons).to_have_count(2)
        expect(page.locator("[data-test-script-state=notRunning]")).to_have_count(1)
        parts = {key.split("-livewake-")[1] for key in buttons.evaluate_all(
            "bs => bs.map(b => [...b.closest(\"[class*='st-key-livewake-']\").classList]"
            ".find(c => c.startsWith('st-key-livewake-')))")}
        sent.clear()
        # The page's main thread is held just after the wake started: its presses come due together.
        page.evaluate("""async () => {
            const woken = window.rivyaLive.wake();
            await new Promise((done) => setTimeout(done));
            const end = performance.now() + 300;
            while (performance.now() < end) {}
            await woken;
        }""")
        _wait_for(page, lambda: set().union(*_wakes_sent(sent)) == parts)  # the asserts below say what came
        presses = _wakes_sent(sent)
        assert all(len(pressed) <= 1 for pressed in presses), presses
        assert set().union(*presses) == parts, presses


def _linked_ids(page: Page) -> list[int]:
    links = page.locator(".st-key-results [data-copy-link]").evaluate_all("bs => bs.map(b => b.dataset.copyLink)")
    return [int(link.rsplit("=", 1)[1]) for link in links]


def test_homes_start_cards_in_one_row_are_one_height_on_a_phone(
    browser: Browser, app: StreamlitServer, request: pytest.FixtureRequest,
) -> None:
    with new_page(browser, request, viewport={"width": 390, "height": 844}) as page:
        open_page(page, app.url)
        # Once drawn (every card's words shown, fonts loaded, nothing stale), read at one instant: two rows of two,
        # each row's cards one height. Without it, "Make a video" wraps its words and stands taller than its neighbour.
        page.wait_for_function("""() => {
            const cards = [...document.querySelectorAll("[class*='st-key-home-start-']")];
            if (cards.length !== 4 || document.fonts.status !== "loaded"
                || document.querySelector('[data-stale="true"]')
                || !cards.every(c => c.querySelector('[data-testid="stCaptionContainer"]'))) return false;
            const rows = {};
            for (const card of cards) {
                const box = card.getBoundingClientRect();
                (rows[Math.round(box.top)] ??= []).push(Math.round(box.height));
            }
            const heights = Object.values(rows);
            return heights.length === 2 && heights.every(row => new Set(row).size === 1);
        }""", timeout=SHOWN_TIMEOUT)


def test_copy_link_puts_the_results_link_on_the_clipboard_on_a_phone(
    browser: Browser, app: StreamlitServer, sandbox: Sandbox, request: pytest.FixtureRequest,
) -> None:
    with new_page(browser, request, viewport={"width": 390, "height": 844},
                  permissions=["clipboard-read", "clipboard-write"]) as page:
        open_page(page, f"{app.url}/image")
        before = max(_linked_ids(page), default=0)  # results other tests made show in the panel too
        generate(page, sandbox, "A lighthouse to share")
        let_everything_end(sandbox)
        page.wait_for_function(
            "n => [...document.querySelectorAll('.st-key-results [data-copy-link]')]"
            ".some(b => Number(b.dataset.copyLink.split('=').pop()) > n)", arg=before, timeout=SHOWN_TIMEOUT)
        job_id = max(_linked_ids(page))
        button = page.locator(f".st-key-results [data-copy-link$='job={job_id}']")
        row = button.locator("xpath=ancestor::*[contains(@class, 'stHorizontalBlock')][1]")
        for name in ("Star", "Animate", "Full size", "Download", "Use these settings", "Copy link"):
            expect(row.get_by_role("button", name=re.compile(name)).first).to_be_visible(timeout=SHOWN_TIMEOUT)
        button.click()
        expect(button.locator("[data-label]")).to_have_text("Link copied")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == f"{app.url}/gallery?job={job_id}", copied
        page.goto(copied)  # the link opens that result's large view
        expect(page.get_by_role("dialog").get_by_text(f"#{job_id} · Grok Imagine")).to_be_visible(timeout=SHOWN_TIMEOUT)


def test_a_toast_does_not_follow_the_person_to_the_next_page(page: Page, app: StreamlitServer, sandbox: Sandbox) -> None:
    open_page(page, f"{app.url}/image")
    generate(page, sandbox, "A lighthouse that will #fail")
    # The log moves as the person opens another page (CI once had it so): the wake must not cut that page's run short.
    page.evaluate("() => document.addEventListener('click', () => setTimeout(() => window.rivyaLive.wake()), "
                  "{capture: true, once: true})")
    page.get_by_role("link", name="Video").click()  # a page that does not show image jobs: their end is a toast
    expect(page.locator("h1", has_text="Video")).to_be_visible(timeout=SHOWN_TIMEOUT)
    let_everything_end(sandbox)
    toast = page.get_by_test_id("stToast").filter(has_text="Image did not finish")
    expect(toast).to_be_visible(timeout=SHOWN_TIMEOUT)  # a failure's toast stays about 10 s
    assert toast.bounding_box()["y"] < 200  # a wide screen: top right, under the header
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: at the bottom, clear of the page's top
    page.wait_for_function("el => el.getBoundingClientRect().bottom > 844 - 100", arg=toast.element_handle(),
                           timeout=10_000)
    page.set_viewport_size({"width": 1400, "height": 1000})
    sidebar = page.get_by_test_id("stSidebar")  # folded on the narrow screen, open again on the wide one
    expect(sidebar).to_have_attribute("data-collapsed", "false")
    expect(sidebar.get_by_role("switch")).to_be_visible()
    sidebar.get_by_role("link", name="History & credits").click()
    expect(page.locator("h1", has_text="History")).to_be_visible(timeout=SHOWN_TIMEOUT)
    expect(toast).to_have_count(0, timeout=3_000)  # closed on the new page, long before it would have gone
