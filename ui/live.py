"""Parts of a page that follow the job log, woken by the log's changes rather than by timers of their own.

The log keeps a one-row change counter (``TaskLog.signature``) that moves with every row added, updated or removed.
The server reads it once for the whole process and pushes its moves to open pages (``rivya.live_feed``, the route
``rivya.live_route``): a small script per browser page (``connect``) waits on the route and, when the counter moves,
wakes the page's live parts by pressing a hidden "wake" button inside each (a widget press reruns only its fragment).
So an idle tab costs no script run at all, and a change shows within about a second of the log recording it.

Each live part (``live_fragment``) keeps its own comparison (what it would redraw) and shares the mechanism:

- a hidden wake button, pressed by the page's script on every change it is told of;
- a slow safety timer (``SAFETY_SECONDS``), in case a push is lost;
- its former timer's pace as the fallback: if the feed cannot be used (a proxy that drops the long wait, a refused
  pass, the network, the log itself unreachable), the script presses every button once and then at that pace, as
  the part's own timer did before, trying the feed again meanwhile.

Home's Recent results redraw themselves (``live_section`` + ``read_on_change``); History (``ui.history_watch``) and the
Gallery (``ui.gallery_watch``) run the page again (``follow``) when what they show changed; the notices' watcher, the
job panel's live part and an Explore grid's cells are live fragments of their own modules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from rivya.constants import LIVE_PATH
from rivya.errors import StorageError
from rivya.live_route import PASS_HEADER
from rivya.studio import Studio
from rivya.tasklog import TaskLog
from ui.outage import outage_guard
from ui.session import session

T = TypeVar("T")

# Seconds between two looks of a part's slow safety timer: a change whose push was lost still shows within this.
SAFETY_SECONDS = 60.0
# No timer of a live part (the safety timer, the fallback pace) is shorter than this. 0: each keeps its own. Tests
# that must see the push feed alone at work set it to an hour (tests/slow_timers_app.py).
LEAST_TIMER_SECONDS = 0.0
# The page's script wakes the live parts at most once per WAKE_GAP_MS (the counter moves with every status look of a
# running job: a busy log would otherwise rerun every part several times a second), and after a failed wait tries the
# feed again after RETRY_MS, doubling up to RETRY_MAX_MS, waking the parts at their fallback paces meanwhile.
WAKE_GAP_MS = 1000
# A wake waits for a run to follow a person's press on a control (``CONTROLS``) or key, or this long after it (a
# gesture that starts no run).
GESTURE_MS = 10_000
# What a person's press can send from (``_SCRIPT``'s gesture rule): Streamlit's controls, their labels, links, the
# tables' canvas, and the ARIA roles of its lists, tabs, sliders and calendars.
CONTROLS = ", ".join(["button", "a", "input", "textarea", "select", "label", "summary", "canvas", "[contenteditable]",
                      *(f"[role={role}]" for role in ("button", "option", "tab", "slider", "checkbox", "radio", "switch",
                                                      "combobox", "listbox", "gridcell", "menuitem", "link",
                                                      "spinbutton", "textbox"))])
RETRY_MS = 2000
RETRY_MAX_MS = 60_000
# Home's Recent results (fallback pace): the promise is 5 s from the log recording a job's new state.
LIVE_SECONDS = 3.0
WAKE_KEY = "livewake"
# The wake buttons are never seen (nor read aloud): only the page's script presses them. Drawn by the frame
# (studio_app.py) with the other page-wide style, one element for both.
WAKE_STYLE = f"<style>[class*='st-key-{WAKE_KEY}-'] {{ display: none !important; }}</style>"


def timer(seconds: float) -> float:
    """A live part's timer of ``seconds``, no shorter than ``LEAST_TIMER_SECONDS``."""
    return max(seconds, LEAST_TIMER_SECONDS)


def read_on_change(log: TaskLog, key: str, read: Callable[[], T], *, inputs: Hashable = None) -> T:
    """``read()``, or what it returned for this tab under ``key`` while the log's change counter has not moved
    and ``inputs`` (whatever else ``read`` depends on, e.g. the ids it follows) are the same.

    The counter is read first: a change that lands while ``read()`` runs moves it past the value kept, so the next
    call reads again (a kept value is never older than its counter). One value is kept per ``key``.
    """
    signature = (log.signature(), inputs)
    kept = session().live_reads.get(key)
    if kept is not None and kept[0] == signature:
        return kept[1]
    value = read()
    session().live_reads[key] = (signature, value)
    return value


def wake_button(name: str, fallback: float) -> None:
    """The hidden button the page's script presses to wake the fragment it is drawn in; ``fallback``: the seconds
    between presses while the feed cannot be used (carried in its key, which the script reads)."""
    st.button("Wake", key=f"{WAKE_KEY}-{name}-{round(timer(fallback) * 1000)}")


def live_fragment(body: Callable[[], None], *, name: str, fallback: float,
                  safety: float = SAFETY_SECONDS) -> Callable[[], None]:
    """``body`` as a live part: run now and whenever the log changes (the page's script wakes it), else every
    ``safety`` seconds; ``fallback`` is its pace while the feed cannot be used. A run while the log cannot be
    reached turns the page to its outage notice instead of a traceback. ``name`` is unique on the page."""

    def run() -> None:
        if _input_from_outside():
            st.rerun()  # the whole page, from what the server holds (the press's callback has run)
        hand_over()  # a card of this part: Full size, Use these settings, Animate
        wake_button(name, fallback)
        body()

    return st.fragment(outage_guard()(run), run_every=timer(safety))


def hand_over() -> None:
    """Call first in a part of a page or a dialog whose presses need a page run: one that opens a dialog drawn by page
    runs (the large view, Compare: ``session().opening``) or names a page to open (Use these settings, Animate:
    ``session().goto_page``, which the page run takes). After such a press, run the whole page (from a part's own
    run: a page run takes the page to open itself, wherever its parts are drawn)."""
    ctx = get_script_run_ctx()
    if session().goto_page and ctx is not None and ctx.fragment_ids_this_run:
        st.rerun()
    if session().opening:
        session().opening = False
        st.rerun()


def _input_from_outside() -> bool:
    """Whether this part's own run (a wake's, a timer's) also carries a person's input to a widget outside it.

    On a busy page a person's press or key can go in the same batch as a wake's press, and Streamlit then runs only
    the woken part: the press's callback runs, the page that would show its effect does not. The part then runs the
    page (``st.rerun()``), from the values the server holds, so nothing the callbacks set is undone by the browser's
    older ones. A press is therefore always handled by its callback (a trigger read in the page's body would be gone
    by that page run).

    Streamlit keeps no public record of which widgets changed in a run: this reads its session state as its own
    callback dispatch does (``SessionState._call_callbacks``). On a Streamlit without these, every such run runs the
    page: slower, never a lost press.
    """
    ctx = get_script_run_ctx()
    if ctx is None or not ctx.fragment_ids_this_run:
        return False  # a run of the whole page draws everything anyway
    try:
        state = ctx.session_state._state
        widgets = state._new_widget_state
        return any(state._widget_changed(wid) for wid in widgets  # the widgets this run's request carried
                   if (meta := widgets.widget_metadata.get(wid)) is not None
                   and meta.fragment_id not in ctx.fragment_ids_this_run and WAKE_KEY not in wid)
    except (AttributeError, KeyError, TypeError):  # another Streamlit's session state
        return True


def live_section(draw: Callable[[], None], *, name: str = "home", every: float = LIVE_SECONDS) -> None:
    """Draw ``draw()`` now, and again on every change of the log (``every`` seconds: the fallback pace).

    ``draw`` reads what it shows through ``read_on_change``, so a wake that finds the log unchanged re-reads nothing
    and re-sends the same elements (Streamlit's front end keeps them as they are).
    """
    live_fragment(draw, name=name, fallback=every)()


def connect(studio: Studio) -> None:
    """Once per page run, after access is granted: the page's script that waits on the feed and wakes the live parts.

    The pass (``rivya.live_feed.LivePasses``) is granted once per browser session and handed to its page only. The
    script installs itself once per browser page (the page stays while the person moves between pages) and takes the
    newest pass each time it runs (a session that reconnected after a restart has a new one).
    """
    ctx = get_script_run_ctx()
    if ctx is None:  # not a browser session (a bare script run)
        return
    if session().live_pass is None:
        session().live_pass = studio.passes.grant(ctx.session_id)
    try:  # the counter this run's parts were drawn at: the first wait starts from it (None: the first answer wakes)
        drawn: int | None = studio.log.signature()[2]
    except StorageError:
        drawn = None
    settings = json.dumps({"url": LIVE_PATH, "header": PASS_HEADER, "pass": session().live_pass, "gap": WAKE_GAP_MS,
                           "gestureMs": GESTURE_MS, "retry": RETRY_MS, "retryMax": RETRY_MAX_MS, "key": WAKE_KEY,
                           "drawn": drawn, "controls": CONTROLS}).replace("<", "\\u003c")
    st.html(f"<script>{_SCRIPT.replace('SETTINGS', settings)}</script>", unsafe_allow_javascript=True, width="content")


def disconnect(studio: Studio) -> None:
    """Access ended (signed out): the session's pass is dropped; its page's script falls back to its timers."""
    ctx = get_script_run_ctx()
    if session().live_pass is not None and ctx is not None:
        studio.passes.revoke(ctx.session_id)
        session().live_pass = None


# The page's script. ``window.rivyaLive`` holds its state across the page's runs; ``wakes`` counts the wakes (read
# by the benchmark). A wake presses every wake button on the page; while the feed fails, each button is pressed at the
# pace its key carries.
_SCRIPT = """(() => {
  const s = SETTINGS;
  const L = window.rivyaLive || (window.rivyaLive = {wakes: 0, changes: 0, feed: "starting", last: {}});
  L.pass = s.pass;
  if (L.running) return;
  L.running = true;
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  const buttons = () => document.querySelectorAll(`[class*="st-key-${s.key}-"] button`);
  const keyOf = (b) => [...b.closest(`[class*="st-key-${s.key}-"]`).classList].find((c) => c.startsWith("st-key-"));
  // A press sends every widget's value as this page holds it, and reruns a fragment ahead of any run under way.
  // Sent while a person's own press is on its way, it would carry the values from before that press's answer (the
  // form would lose what "Use these settings" put in it), or cut short the run of the page the person opened (and
  // leave it blank). So a wake waits until the page is not running and a run has followed the person's last press
  // or Enter or Tab (GESTURE_MS at most, for a gesture that starts no run); a press that finds a new gesture waits again.
  // The run state is the attribute Streamlit's own browser tests read; without it (another Streamlit), the gesture
  // rule alone holds wakes back.
  const state = () => document.querySelector('[data-testid="stApp"]')?.getAttribute("data-test-script-state");
  const calm = () => L.ranSinceGesture || performance.now() - L.gesture > s.gestureMs;
  const idle = () => (state() ?? "notRunning") === "notRunning" && calm();
  if (!L.watching) {
    L.watching = true; L.gesture = -Infinity; L.ranSinceGesture = true;
    const gesture = (e) => { if (e.isTrusted) { L.gesture = performance.now(); L.ranSinceGesture = false; } };
    // Only a press on something that can send (a control, a label, a link, the table): a click on words, on empty space
    // or on a scroll bar starts no run, and would hold the page's updates back for GESTURE_MS.
    document.addEventListener("pointerdown", (e) => { if (e.target.closest?.(s.controls)) gesture(e); }, true);
    // Only keys that send something (a typed character stays in its box until the box is left or Enter pressed).
    document.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === "Tab") gesture(e); }, true);
    new MutationObserver(() => { if (state() === "running") L.ranSinceGesture = true; })
      .observe(document.body, {subtree: true, attributes: true, attributeFilter: ["data-test-script-state"]});
    // A wake's press stops where Streamlit's own handlers are (React's root): beyond it, the page takes a click as
    // one outside any open popover (Rename's, a card's More), and would close it under the person's hand.
    document.getElementById("root")?.addEventListener("click", (e) => {
      if (!e.isTrusted && e.target.closest?.(`[class*="st-key-${s.key}-"]`)) e.stopPropagation();
    });
  }
  const whenIdle = async () => { while (!idle()) await sleep(50); };
  // Streamlit sends the presses it holds when its own zero-delay timer fires, as one batch for one fragment only: a
  // second press made before then is lost. So the page's presses (a wake's, the fallback's) take turns, each after a
  // timer set once the previous press was made, which fires after that press's batch has gone (timers set up front
  // would all come due at once on a busy page).
  // A person's press or key that the browser handles before that timer (input goes first on a busy page) goes in the
  // same batch, which runs only the woken part: that part then runs the page (``_input_from_outside``).
  let turn = Promise.resolve();
  const pressOne = (b) => (turn = turn.then(async () => {
    if (!b.isConnected) return;  // its page has gone
    if (!calm()) { again(); return; }
    L.last[keyOf(b)] = Date.now();
    b.click();
    await sleep(20);
  }).catch(() => {}));  // one press that failed does not stop the others
  const press = (list) => Promise.all(list.map(pressOne));
  const wake = async () => { await whenIdle(); L.wakes += 1; await press([...buttons()]); };
  const again = () => { if (!L.again) { L.again = true; wake().finally(() => { L.again = false; }); } };
  L.wake = wake;  // a test wakes the page at a chosen moment, as a push would
  let fallback = null;
  const startFallback = () => {
    if (fallback) return;
    fallback = setInterval(() => {
      const now = Date.now(), due = [];
      if (!idle()) return;
      for (const b of buttons()) {
        const key = keyOf(b), pace = Number(key.split("-").pop());
        if (!(key in L.last)) L.last[key] = now;
        else if (pace > 0 && now - L.last[key] >= pace) { L.last[key] = now; due.push(b); }
      }
      press(due);
    }, 250);
  };
  const stopFallback = () => { clearInterval(fallback); fallback = null; };
  (async () => {
    // From the counter the page was drawn at: a change since then wakes the parts at once, and none does not (a wake
    // right after the page's run would only repeat it). Without it, or after a failed wait, the first answer wakes.
    let since = typeof s.drawn === "number" ? s.drawn : null, retry = s.retry;
    for (;;) {
      try {
        const r = await fetch(s.url + (since === null ? "" : `?since=${since}`),
                              {headers: {[s.header]: L.pass}, cache: "no-store", credentials: "same-origin"});
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const body = await r.json();
        if (typeof body.changes !== "number") throw new Error("no counter");
        L.feed = "on"; retry = s.retry; stopFallback();
        if (since === null || body.changes !== since) {
          if (since !== null) L.changes += 1;
          await wake();
          since = body.changes;
          await sleep(s.gap);
        }
      } catch (e) {
        if (L.feed !== "fallback") await wake();  // once: a part that reads the log shows an outage at once
        L.feed = "fallback"; since = null; startFallback();
        await sleep(retry); retry = Math.min(retry * 2, s.retryMax);
      }
    }
  })();
})();"""


# -- a part that draws nothing: the page runs again when what it shows changed --------------------------------


def follow(changed: Callable[[], bool], *, name: str, fallback: float) -> None:
    """A live part that draws nothing: the whole page runs again (without a reload) when ``changed()`` says so."""

    def look() -> None:
        if changed():
            st.rerun()

    live_fragment(look, name=name, fallback=fallback)()
