"""The Gallery as people feel it: the real server in headless Chromium with 10,000 results in the log.

A log is seeded with ``--results`` succeeded jobs (images and, one in four, videos), each with a saved result
file: hard links to a few real sandbox renders, so the disk holds them once. Then, ``--runs`` times, a fresh
``streamlit run app.py`` serves that folder (a sandbox answers the balance) and Chromium measures, until the
first screen's tiles (``PAGE_SIZE``) are drawn with every thumbnail decoded and the script run has ended:

- cold: a new browser profile, and no tile thumbnail made yet (``media/thumbs`` emptied before each run):
  the very first visit after the results arrived, which makes the first screen's thumbnails;
- first visit: another new profile, thumbnails already on disk (the usual case: made once, never again);
- warm visit: the same profile again (a new session; static files cached);
- load more: "Load more" pressed, until twice as many tiles are drawn;
- search: words typed into "Search prompts or tags" and Enter, until the matching tiles are drawn;
- for scale, the Home page (a few metrics and links) opened in a new profile: what any page of the app costs
  in this browser on this machine, whatever the log holds (on a busy machine every figure grows alike).

The table shows medians of the runs; the target is a first screen in at most 1 s.

Run: python -m benchmarks.gallery                  (about 2 minutes)
     python -m benchmarks.gallery --runs 1         (a quick look)
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

from rivya.constants import GALLERY_PAGE_SIZE as PAGE_SIZE
from rivya.sandbox import Sandbox
from rivya.sandbox.render import render_mp4, render_png
from rivya.tasklog import TaskLog
from rivya.thumbnails import THUMBS_DIR
from tests.browser_support import CHROMIUM_ARGS, StreamlitServer, chromium_path

SEARCH = "misty lighthouse"
SUBJECTS = ("lighthouse", "fox", "robot", "city street", "owl", "harbor", "forest", "teapot")
ADJECTIVES = ("misty", "neon", "golden", "tiny", "ancient", "snowy", "quiet")
TIMEOUT_MS = 120_000


def seed(data: Path, count: int) -> int:
    """``count`` results over the last 90 days, newest last; returns how many match ``SEARCH``."""
    media = data / "media"
    media.mkdir(parents=True)
    sources = {}
    for n, ratio in enumerate(("1:1", "16:9", "9:16", "4:3")):
        sources[f"png{n}"] = media / f"source-{n}.png"
        sources[f"png{n}"].write_bytes(render_png(f"{ADJECTIVES[n]} {SUBJECTS[n]}", ratio, False))
    sources["mp4"] = media / "source.mp4"
    sources["mp4"].write_bytes(render_mp4("waves on a beach", "16:9", "480p", 6))
    TaskLog(data / "tasklog.sqlite3").close()  # the current schema, with its triggers
    now = datetime.now(UTC)
    rows, matches = [], 0
    for n in range(count):
        video = n % 4 == 3
        prompt = f"a {ADJECTIVES[n % len(ADJECTIVES)]} {SUBJECTS[n % len(SUBJECTS)]} number {n}"
        matches += "misty" in prompt and "lighthouse" in prompt
        path = media / f"{n + 1}-0.{'mp4' if video else 'png'}"
        source = sources["mp4"] if video else sources[f"png{n % 4}"]
        try:
            os.link(source, path)
        except OSError as error:  # a file system's most links to one file (ext4: 65,000): start a new source copy
            if error.errno != errno.EMLINK:
                raise
            copy = source.with_name(f"{source.stem}-{n}{source.suffix}")
            shutil.copyfile(source, copy)
            sources["mp4" if video else f"png{n % 4}"] = copy
            os.link(copy, path)
        stamp = (now - timedelta(seconds=(count - n) * 90 * 86_400 / count)).isoformat(timespec="milliseconds")
        rows.append((
            f"bench-{n}", "bench", stamp, stamp, stamp, "grok-imagine-video" if video else "grok-imagine",
            "video" if video else "image", prompt, json.dumps({"aspect_ratio": "16:9"}), f"task_{n}", "succeeded",
            10 if video else 4, 10 if video else 4, json.dumps([f"https://expired.example/{n}"]), json.dumps([str(path)]),
        ))
    db = sqlite3.connect(data / "tasklog.sqlite3", isolation_level=None)
    db.execute("BEGIN")
    db.executemany(
        """INSERT INTO jobs (idempotency_key, backend, submitted_at, updated_at, finished_at, model, category, prompt,
               params, task_id, status, reserved_credits, final_credits, result_urls, media_paths)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        rows,
    )
    db.execute("COMMIT")
    db.close()
    return matches


def _tiles_drawn(page: Page, tiles: int) -> None:
    """Wait until ``tiles`` tiles show, every thumbnail decoded, and the script run has ended."""
    opens = page.locator(".gallery-tile")
    expect(opens).to_have_count(tiles, timeout=TIMEOUT_MS)
    page.wait_for_function(
        """n => { const imgs = [...document.querySelectorAll('[data-testid="stMain"] .gallery-tile img')];
                  return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0)
                      && !document.querySelector('[data-stale="true"]'); }""",
        arg=tiles, timeout=TIMEOUT_MS,
    )
    expect(page.get_by_test_id("stException")).to_have_count(0)


def _visit(page: Page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    _tiles_drawn(page, PAGE_SIZE)
    return time.perf_counter() - started


def run_once(browser: Browser, env: dict[str, str], data: Path, matches: int) -> dict[str, float]:
    shutil.rmtree(data / "media" / THUMBS_DIR, ignore_errors=True)
    server = StreamlitServer(env)
    try:
        url = f"{server.url}/gallery"
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        cold = _visit(context.new_page(), url)
        context.close()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        first = _visit(page, url)
        warm = _visit(page, url)
        started = time.perf_counter()
        page.get_by_role("button", name="Load more").click()
        _tiles_drawn(page, 2 * PAGE_SIZE)
        more = time.perf_counter() - started
        box = page.get_by_role("textbox", name="Search prompts or tags")
        box.fill(SEARCH)
        started = time.perf_counter()
        box.press("Enter")
        expect(page.get_by_text(f"of {matches:,} results")).to_be_visible(timeout=TIMEOUT_MS)
        _tiles_drawn(page, min(PAGE_SIZE, matches))
        search = time.perf_counter() - started
        context.close()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        started = time.perf_counter()
        page.goto(server.url, wait_until="commit")
        expect(page.get_by_role("heading", name="Imagine Studio")).to_be_visible(timeout=TIMEOUT_MS)
        page.wait_for_function("!document.querySelector('[data-stale=\"true\"]')", timeout=TIMEOUT_MS)
        home = time.perf_counter() - started
        context.close()
    finally:
        server.stop()
    return {"cold": cold, "first": first, "warm": warm, "more": more, "search": search, "home": home}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000, help="results in the log")
    parser.add_argument("--runs", type=int, default=3, help="fresh servers (the table shows medians)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, Sandbox() as sandbox:
        data = Path(folder)
        started = time.perf_counter()
        matches = seed(data, args.results)
        seeded = time.perf_counter() - started
        env = {"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": sandbox.api_key, "RIVYA_DATA_DIR": folder}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            samples = [run_once(browser, env, data, matches) for _ in range(args.runs)]
            browser.close()
    median = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    print(f"| results | seed | first screen, cold thumbnails | first visit | warm visit | load more (+{PAGE_SIZE}) "
          f"| search \"{SEARCH}\" | Home page, first visit (baseline) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.results:,} | {seeded:.0f} s | {median['cold']:.2f} s | {median['first']:.2f} s | {median['warm']:.2f} s "
          f"| {median['more']:.2f} s | {median['search']:.2f} s ({matches:,} results) | {median['home']:.2f} s |")
    print(f"\nMedians of {args.runs} runs; headless Chromium at 1400 x 1000; target: first visit <= 1 s.")


if __name__ == "__main__":
    main()
