"""Finish → on the page (issue 22): from the sandbox's own finish time to the result drawn in Chromium's Image page.

Run: python -m benchmarks.live_page [--runs 3] [--jobs 10] [--seconds 8] [--idle-seconds 60]   (prints markdown tables)

The real server (``streamlit run``, through ``tests/slow_timers_app.py`` with every timer at its own pace) on a
sandbox of image jobs of ``--seconds``, four ways: with or without webhooks (``PUBLIC_URL``), and with the push feed
(``ui.live``) or without it (its route left out: the page's script wakes the live parts on the timers they had before
the feed). The page presses Generate ``--jobs`` times, a second or two apart; an in-page script records, at every
animation frame, ``Date.now()`` when each job's card first shows its loaded image. The sandbox's finish time of the
task (its creation plus its queued and processing seconds) is on the same machine's clock, so the difference needs no
alignment. Also: finish → log (the row's ``finished_at``), status requests per job, websocket messages per job (both
ways, the whole run), and the websocket messages an idle Image page exchanges per minute, with and without the feed.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from benchmarks import medians
from rivya.sandbox import Sandbox, Timing
from rivya.status import TERMINAL
from tests.browser_support import (
    CHROMIUM_ARGS,
    ROOT,
    StreamlitServer,
    chromium_path,
    free_port,
    open_page,
    sandbox_env,
    type_prompt,
)

APP = ROOT / "tests" / "slow_timers_app.py"
# Records when each panel card first shows a loaded image (``window.__drawn``: job id -> Date.now()), and counts the
# websocket's messages both ways (``window.__messages``).
WATCH = """
(() => {
  const drawn = window.__drawn = {};
  window.__messages = 0;
  const look = () => {
    for (const card of document.querySelectorAll('[class*="st-key-grok-imagine-panel-card-"]')) {
      const key = [...card.classList].find((c) => c.startsWith('st-key-grok-imagine-panel-card-'));
      const id = key.split('-').pop();
      if (drawn[id]) continue;
      const img = card.querySelector('[data-testid="stImage"] img');
      if (img && img.complete && img.naturalWidth > 0) drawn[id] = Date.now();
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', () => { window.__messages += 1; });
    const send = socket.send.bind(socket);
    socket.send = (data) => { window.__messages += 1; return send(data); };
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
})();
"""
WAYS = (("webhooks on", "push feed"), ("webhooks on", "timers"), ("polling only", "push feed"),
        ("polling only", "timers"))


def _stamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _p95(values: list[float]) -> float:
    values = sorted(values)
    return values[int(0.95 * (len(values) - 1))]


def _generate(page: Page, prompt: str) -> None:
    type_prompt(page, prompt)
    page.get_by_role("button", name=re.compile("Generate")).click()
    expect(page.get_by_text(prompt).first).to_be_visible(timeout=30_000)


def one_run(browser: Browser, hooks: bool, feed: bool, jobs: int, seconds: float) -> dict[str, float]:
    timing = Timing(image_queued=seconds * 0.2, image_processing=seconds * 0.8)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp, \
            Sandbox(timing=timing, credits=10**7, allow_local_webhooks=True) as sandbox:
        data_dir = Path(tmp)
        port = free_port()
        settings = {"LIVE_LEAST_TIMER": "0", **({} if feed else {"LIVE_FEED": "off"}),
                    **({"PUBLIC_URL": f"http://127.0.0.1:{port}"} if hooks else {})}
        server = StreamlitServer(sandbox_env(sandbox, data_dir, **settings), port=port, script=APP)
        try:
            if hooks:  # the endpoint registered and its test event taken: deliveries are healthy
                deadline = time.monotonic() + 60
                while not any(d["event_type"] == "webhook.test" and d["status"] == "succeeded"
                              for d in sandbox.webhooks.deliveries) and time.monotonic() < deadline:
                    time.sleep(0.1)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_init_script(WATCH)
            page = context.new_page()
            open_page(page, f"{server.url}/image")
            for n in range(jobs):
                _generate(page, f"bench job {n}")
            db = sqlite3.connect(f"file:{data_dir / 'tasklog.sqlite3'}?mode=ro", uri=True, timeout=10)
            rows = db.execute("SELECT id, task_id, finished_at, updated_at, status FROM jobs").fetchall()
            deadline = time.monotonic() + seconds * 4 + 60
            while time.monotonic() < deadline:
                rows = db.execute("SELECT id, task_id, finished_at, updated_at, status FROM jobs").fetchall()
                drawn = page.evaluate("window.__drawn")
                ended = len(rows) == jobs and all(r[4] in TERMINAL for r in rows)
                if ended and all(str(r[0]) in drawn for r in rows if r[4] == "succeeded"):
                    break
                time.sleep(0.25)
            db.close()
            drawn = page.evaluate("window.__drawn")
            messages = page.evaluate("window.__messages")
            context.close()
        finally:
            server.stop()
        to_page, to_log, to_saved = [], [], []
        succeeded = [r for r in rows if r[4] == "succeeded"]  # a failed job has no result to draw
        for job_id, task_id, finished_at, saved_at, _status in succeeded:
            task = sandbox.state.tasks[task_id]
            finished = _stamp(task.created_at) + task.queued_for + task.processing_for
            to_log.append(_stamp(finished_at) - finished)
            to_saved.append(_stamp(saved_at) - finished)  # the row's last write: its result saved
            to_page.append(drawn.get(str(job_id), float("inf")) / 1000 - finished)
        gets = sum(1 for e in sandbox.journal if e.method == "GET" and e.path.startswith("/api/v1/generations/"))
        return {"log_p50": statistics.median(to_log), "log_p95": _p95(to_log), "saved_p50": statistics.median(to_saved),
                "page_p50": statistics.median(to_page),
                "page_p95": _p95(to_page), "polls": gets / len(rows), "messages": messages / len(rows),
                "drawn": sum(t < float("inf") for t in to_page), "succeeded": len(succeeded)}


def idle_messages(browser: Browser, feed: bool, seconds: float) -> float:
    """Websocket messages (both ways) per minute of an idle Image page with one finished result on it."""
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp, \
            Sandbox(timing=Timing(image_queued=0.2, image_processing=0.5)) as sandbox:
        server = StreamlitServer(sandbox_env(sandbox, Path(tmp), LIVE_LEAST_TIMER="0",
                                             **({} if feed else {"LIVE_FEED": "off"})), script=APP)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_init_script(WATCH)
            page = context.new_page()
            open_page(page, f"{server.url}/image")
            _generate(page, "an idle page's one result")
            page.wait_for_function("Object.keys(window.__drawn).length >= 1", timeout=60_000)
            page.wait_for_timeout(5_000)  # the run after the finish, and its wakes, are over
            before = page.evaluate("window.__messages")
            page.wait_for_timeout(seconds * 1000)
            after = page.evaluate("window.__messages")
            context.close()
        finally:
            server.stop()
    return (after - before) * 60 / seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live_page", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="0: no idle measurement")
    parser.add_argument("--ways", default="0,1,2,3", help="which of the four ways to run (indexes into WAYS)")
    args = parser.parse_args(argv)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        print(f"{args.jobs} image jobs of {args.seconds:g} s pressed on the Image page; medians of {args.runs} run(s)")
        print()
        print("| webhooks | page told by | finish → log p50 | p95 | finish → result saved p50 | finish → page p50 | p95 "
              "| status requests per job | websocket messages per job | drawn / succeeded |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for index in (int(i) for i in args.ways.split(",")):
            hooks, told = WAYS[index]
            m = medians([one_run(browser, hooks == "webhooks on", told == "push feed", args.jobs, args.seconds)
                         for _ in range(args.runs)])
            print(f"| {hooks} | {told} | {m['log_p50']:.2f} s | {m['log_p95']:.2f} s | {m['saved_p50']:.2f} s "
                  f"| {m['page_p50']:.2f} s "
                  f"| {m['page_p95']:.2f} s | {m['polls']:.2f} | {m['messages']:.0f} | {m['drawn']:.0f}/{m['succeeded']:.0f} |",
                  flush=True)
        if args.idle_seconds > 0:
            print()
            print("| idle Image page | websocket messages per minute |")
            print("|---|---|")
            for feed in (False, True):
                print(f"| {'push feed' if feed else 'timers'} | {idle_messages(browser, feed, args.idle_seconds):.1f} |",
                      flush=True)
        browser.close()


if __name__ == "__main__":
    main()
