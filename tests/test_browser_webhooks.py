"""With ``PUBLIC_URL`` set, the real server registers its webhook endpoint with the sandbox and a result reaches the page
through the event: the one status request is the woken one, made before any scheduled look would have found it; and
the page is told by the push feed (``ui.live``): the server here runs every live part's timer at an hour
(``tests/slow_timers_app.py``), so without the feed the result would not show."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from rivya import constants
from rivya.sandbox import Sandbox, Timing

from .browser_support import ROOT, StreamlitServer, free_port, new_page, open_page, sandbox_env, tasks_with, type_prompt

pytestmark = pytest.mark.browser
# Finishes 4.5 s after the create: between the documented first look (2-3 s) and the next, placed just after the typical
# 10 s of an image. Polling alone would need two status requests; the event needs one.
TIMING = Timing(image_queued=0.5, image_processing=4.0)
RESULT_TIMEOUT = 60_000


@pytest.fixture(scope="module")
def hook_sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=TIMING, allow_local_webhooks=True) as server:
        yield server


@pytest.fixture(scope="module")
def app(hook_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    port = free_port()
    env = sandbox_env(hook_sandbox, tmp_path_factory.mktemp("data"), PUBLIC_URL=f"http://127.0.0.1:{port}")
    server = StreamlitServer(env, port=port, script=ROOT / "tests" / "slow_timers_app.py")
    try:
        yield server
    finally:
        server.stop()


def test_a_result_reaches_the_page_through_the_webhook_and_the_push_feed(browser: Browser, app: StreamlitServer,
                                                       hook_sandbox: Sandbox, request: pytest.FixtureRequest) -> None:
    hooks = hook_sandbox.webhooks
    deadline = time.monotonic() + 60
    while not any(d["event_type"] == "webhook.test" and d["status"] == "succeeded" for d in hooks.deliveries):
        assert time.monotonic() < deadline, "the app never registered its endpoint or took the test event"
        time.sleep(0.1)
    (endpoint,) = hooks.endpoints.values()
    assert endpoint.url == f"{app.url}/hooks/rivya"
    with new_page(browser, request) as page:
        open_page(page, f"{app.url}/image")
        type_prompt(page, "A heron told by a webhook")
        page.get_by_role("button", name=re.compile("Generate")).click()
        (task,) = tasks_with(hook_sandbox, "A heron told by a webhook", at_least=1)
        # Every timer of the page is an hour long: the panel's live part carries its fallback pace in its wake key.
        wake = page.locator("[class*='st-key-livewake-panel-grok-imagine-3600000']")
        expect(wake).to_have_count(1)
        expect(wake).to_be_hidden()  # only the page's script presses it: the frame's style hides it
        expect(page.locator(".st-key-results").get_by_test_id("stImage").locator("img").first).to_be_visible(
            timeout=RESULT_TIMEOUT)
        live = page.evaluate("window.rivyaLive")
        assert live["feed"] == "on" and live["changes"] >= 1  # told by the feed, never by a fallback timer
    polls = [e for e in hook_sandbox.journal if e.method == "GET" and e.task_id == task.id]
    assert len(polls) == 1  # the woken look; no scheduled look was needed
    # ...and it came before the first look the relaxed schedule had (the safety interval after the create): only the
    # event can have brought it forward.
    assert polls[0].at - hook_sandbox.state.tasks[task.id].started < constants.WEBHOOK_SAFETY_INTERVAL["image"] - 1.0
    assert any(d["event_type"] == "generation.succeeded" and d["status"] == "succeeded" for d in hooks.deliveries)
