"""The page benchmarks' shared harness (issue 21): servers side by side, "drawn" timing in Chromium, paired ratios.

A figure is a ratio, never an absolute time: the Studio's page and a reference app (``benchmarks/reference/``)
are served in the same run by the same Streamlit with the same ``.streamlit/config.toml``, measured in turns
(A, B, then B, A: the order rotates every repetition, so neither side always meets a warmer machine), and each
repetition's Studio time is divided by the reference's from the same repetition. The table prints the median
of those paired ratios with their range, the absolute medians for reference only, and the load average.

"Drawn" is measured inside the page, so no polling interval of the driver counts: an init script records when
each websocket message arrives (``performance.now()``, whose zero is the navigation's start) and reads two
fields of Streamlit's ``ForwardMsg`` from its bytes: ``new_session`` (a script run began) and
``script_finished`` = FINISHED_SUCCESSFULLY (a whole run ended; a fragment's run or one cut short for a rerun
does not count). A step is drawn at the first animation frame where its own content predicate holds, no
element is stale, no element still shows the skeleton Streamlit draws while its lazily loaded code arrives,
and a whole run has finished since the step began. Server run = that run's ``script_finished``
less its ``new_session``, as the browser received them.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser_support import StreamlitServer

REFERENCE = Path(__file__).resolve().parent / "reference"
TIMEOUT_MS = 120_000
VIEWPORT = {"width": 1400, "height": 1000}

# Runs in every document before Streamlit: times each websocket message and reads ForwardMsg's field 4
# (new_session, bytes) and field 6 (script_finished, an enum; 0 = FINISHED_SUCCESSFULLY, 3 = a fragment's run
# finished) at its top level.
WATCH_RUNS = """
(() => {
  const runs = window.__runs = {started: [], finished: [], fragments: []};
  const varint = (b, i) => {
    let v = 0, s = 1, x;
    do { x = b[i++]; v += (x & 127) * s; s *= 128; } while (x & 128);
    return [v, i];
  };
  const read = (bytes, at) => {
    const b = new Uint8Array(bytes); let i = 0;
    while (i < b.length) {
      let key, n; [key, i] = varint(b, i);
      const fieldNo = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) { [n, i] = varint(b, i); if (fieldNo === 6 && n === 0) runs.finished.push(at);
                    if (fieldNo === 6 && n === 3) runs.fragments.push(at); }
      else if (wire === 2) { [n, i] = varint(b, i); if (fieldNo === 4) runs.started.push(at); i += n; }
      else if (wire === 1) i += 8; else if (wire === 5) i += 4; else return;
    }
  };
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', (event) => {
      const at = performance.now();
      if (event.data instanceof ArrayBuffer) read(event.data, at);
      else if (event.data instanceof Blob) event.data.arrayBuffer().then((bytes) => read(bytes, at));
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""

# Content predicates (JavaScript expressions over ``arg``) for ``drawn``.
TEXT = "document.querySelector('[data-testid=\"stMain\"]')?.innerText.includes(arg)"
HEADING = "[...document.querySelectorAll('h1')].some(h => h.innerText.trim() === arg)"
TABLE = "!!document.querySelector('[data-testid=\"stMain\"] [data-testid=\"stDataFrame\"]')"
PICTURES = '[data-testid="stMain"] [data-testid="stImage"] img, [data-testid="stMain"] .gallery-tile img'  # st.image, a tile
IMAGES = """(() => { const imgs = [...document.querySelectorAll('""" + PICTURES + """')];
                     return imgs.length >= arg && imgs.every(i => i.complete && i.naturalWidth > 0); })()"""


@dataclass
class Step:
    """One timed step: seconds from its start to drawn, and the server run that drew it."""

    seconds: float
    server_run: float


def drawn(page: Page, started_ms: float, content: str, arg: object = None, *, fragment: bool = False) -> Step:
    """Wait for ``content`` (a JS expression over ``arg``), no stale element and a run finished after ``started_ms``.

    ``fragment``: a fragment's run counts as the run (an action a page answers by rerunning one fragment);
    a page's timed fragment refreshes end runs too, so the content predicate must name the step's own result.
    """
    done = page.wait_for_function(
        f"""([arg, started, fragment]) => {{
              const runs = window.__runs;
              const ends = runs ? runs.finished.concat(fragment ? runs.fragments : []).filter(t => t >= started) : [];
              if (!ends.length) return false;
              if (document.querySelector('[data-stale="true"], [data-testid="stMain"] [data-testid^="stSkeleton"]')) return false;
              if (!({content})) return false;
              const finished = Math.min(...ends);
              const begun = runs.started.filter(t => t >= started && t <= finished).pop() ?? started;
              return [performance.now(), finished - begun];
        }}""",
        arg=[arg, started_ms, fragment], timeout=TIMEOUT_MS, polling="raf",
    ).json_value()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    return Step((done[0] - started_ms) / 1000, done[1] / 1000)


def visit(page: Page, url: str, content: str, arg: object = None) -> Step:
    """Navigate to ``url``: navigation start (the document's time zero) to drawn."""
    page.goto(url, wait_until="commit")
    return drawn(page, 0.0, content, arg)


def act(page: Page, action: Callable[[], None], content: str, arg: object = None) -> Step:
    """Do ``action`` in the open page (a press, a click): its start to drawn (a whole run or a fragment's)."""
    started = page.evaluate("performance.now()")
    action()
    return drawn(page, started, content, arg, fragment=True)


@contextmanager
def fresh(browser: Browser) -> Iterator[BrowserContext]:
    """A new browser profile (nothing cached), watching runs in each of its documents."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(WATCH_RUNS)
    try:
        yield context
    finally:
        context.close()


def reference_server(name: str, env: dict[str, str] | None = None) -> StreamlitServer:
    """Reference app ``name`` ("a" to "f") served like the Studio (same Streamlit, same config, same flags)."""
    return StreamlitServer(env or {}, script=REFERENCE / f"{name}.py")


Scenario = Callable[[Browser], dict[str, Step]]


@dataclass
class Pairs:
    """Paired samples of one comparison: each repetition's Studio and reference steps, by figure name."""

    studio: list[dict[str, Step]] = field(default_factory=list)
    reference: list[dict[str, Step]] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    second: list[dict[str, Step]] = field(default_factory=list)  # a second reference app's, when one is given


def interleaved(browser: Browser, studio: Scenario, reference: Scenario, repetitions: int,
                second: Scenario | None = None) -> Pairs:
    """Run the scenarios ``repetitions`` times in turns, the order rotated each time (A B, B A...; with ``second``,
    A B C, B C A, C A B...); the one-minute load average after each repetition.

    One turn first is not counted: it takes each server's first-run work (imports, caches) out of the figures.
    """
    scenarios = [studio, reference] + ([second] if second is not None else [])
    for scenario in scenarios:
        scenario(browser)
    pairs = Pairs()
    for n in range(repetitions):
        turn = n % len(scenarios)
        steps = {turn_at: scenarios[turn_at](browser)
                 for turn_at in [*range(turn, len(scenarios)), *range(turn)]}
        pairs.studio.append(steps[0])
        pairs.reference.append(steps[1])
        if second is not None:
            pairs.second.append(steps[2])
        pairs.load.append(os.getloadavg()[0])
    return pairs


def served_in_turns(browser: Browser, servers: list[StreamlitServer], scenarios: list[Scenario],
                    repetitions: int) -> Pairs:
    """``interleaved`` over ``scenarios`` (the Studio's, the reference's, an optional second reference's), then every
    one of ``servers`` stopped, whatever happened."""
    try:
        return interleaved(browser, scenarios[0], scenarios[1], repetitions, *scenarios[2:])
    finally:
        for server in servers:
            server.stop()


@dataclass
class Row:
    """One line of the table."""

    figure: str
    floor: str  # which reference step it is divided by, in words
    ratios: list[float]
    studio: list[float]
    reference: list[float]
    load: list[float]

    def markdown(self) -> str:
        ratio = f"**{statistics.median(self.ratios):.2f}×** ({min(self.ratios):.2f}–{max(self.ratios):.2f})"
        return (f"| {self.figure} | {self.floor} | {ratio} | {statistics.median(self.studio):.2f} s "
                f"| {statistics.median(self.reference):.2f} s | {statistics.median(self.load):.1f} |")


def row(pairs: Pairs, figure: str, studio_step: str, reference_step: str, floor: str, *, server_run: bool = False,
        second: bool = False) -> Row:
    """The paired ratio of one Studio step to one reference step (or of their server runs); ``second``: to the
    second reference app's step."""

    def value(step: Step) -> float:
        return step.server_run if server_run else step.seconds

    studio = [value(s[studio_step]) for s in pairs.studio]
    reference = [value(r[reference_step]) for r in (pairs.second if second else pairs.reference)]
    ratios = [s / r for s, r in zip(studio, reference, strict=True)]
    return Row(figure, floor, ratios, studio, reference, pairs.load)


HEADER = ("| page / action | divided by | ratio, median of pairs (range) | Studio, median | reference, median "
          "| load avg (1 min) |\n|---|---|---|---|---|---|")


def table(rows: list[Row]) -> str:
    return "\n".join([HEADER, *(r.markdown() for r in rows)])

