"""Every page figure of issue 21 as a ratio to reference app (b), measured side by side in one run.

Groups (``--only`` picks some), each with its own servers, stopped before the next group starts:

- ``history``: History at ``--history`` jobs (default 100k): first visit, warm visit (same profile, new session),
  filter (words typed into "Search prompts", then Enter), and Home -> History through the sidebar;
  each against (b)'s first visit, warm visit, filter and sidebar switch;
- ``gallery``: the Gallery at ``--gallery`` results (default 10k): first visit, warm visit, "Load more", search, and
  Home -> Gallery through the sidebar; each against (b)'s first visit, warm visit, filter (twice) and switch (the
  issue's target), and against the same steps of (d), the least picture grid (the floor for pictures), all three
  served and timed in turns in one run;
- ``jobs``: the Image and Video pages with 4 running jobs each, warm visit and its server run, against (b)'s, and the
  warm visit against the same page of (f), their parts drawn the plain way (the floor for them), in the same turns;
- ``scale``: History and Gallery first visits at ``--big`` (default 1M) vs ``--small`` (default 1k) logged jobs;
- ``floor``: reference apps (a) and (c), first and warm visits, against (b): what Streamlit's own pieces cost.

Each figure is the median of the per-repetition ratios (``benchmarks/browser.py`` says how pairs are timed).
The page helpers' content predicates are below (``CAPTION``...): a page whose words change must change them too.

Run: python -m benchmarks.pages                                     (every group; long: the 1M logs are seeded first)
     python -m benchmarks.pages --only history,gallery --reps 3     (what a page's change needs)
     python -m benchmarks.pages --only scale --big 100000 --reps 3  (a quicker scale figure)
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from benchmarks import gallery as gallery_bench
from benchmarks import history as history_bench
from benchmarks.browser import (
    HEADING,
    IMAGES,
    TABLE,
    TEXT,
    Pairs,
    Row,
    Scenario,
    Step,
    act,
    fresh,
    reference_server,
    row,
    served_in_turns,
    table,
    visit,
)
from benchmarks.reference import history_floor
from rivya.constants import GALLERY_PAGE_SIZE
from rivya.ledger import JobFilter, LedgerView
from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import TaskLog
from tests.browser_support import CHROMIUM_ARGS, StreamlitServer, chromium_path, sandbox_env

GROUPS = ("history", "gallery", "jobs", "scale", "floor")
HISTORY_LINK, GALLERY_LINK = "History & credits", "Gallery"
HOME_TITLE = "Imagine Studio"
FLOOR_ROWS, FLOOR_FILTER, FLOOR_MATCHES, FLOOR_OTHER_PAGE = 50, "misty", 10, "Records"
RUNNING = 4
PICTURES_FILTER, PICTURES_MATCHES, PICTURES_PAGE = "misty", 30, 15  # reference app (d): its search and its page
PICTURES_LINK, PICTURES_HOME = "Pictures", "Home"


def caption(shown: int, total: int) -> str:
    """History's caption under its table."""
    return f"{shown:,} of {total:,} jobs"


def both(*expressions: str) -> str:
    """A content predicate that holds when all of ``expressions`` do (they share one ``arg``)."""
    return " && ".join(f"({e})" for e in expressions)


def sidebar(page: Page, name: str) -> Callable[[], None]:
    return lambda: page.get_by_test_id("stSidebarNav").get_by_role("link", name=name, exact=True).click()


def floor_scenario(server: StreamlitServer) -> Callable[[Browser], dict[str, Step]]:
    """(b): first visit, warm visit, the filter typed and Enter, then a sidebar switch to another of its pages."""
    full = both(TABLE, TEXT)

    def run(browser: Browser) -> dict[str, Step]:
        with fresh(browser) as context:
            page = context.new_page()
            first = visit(page, server.url, full, f"{FLOOR_ROWS} of {FLOOR_ROWS} rows")
            warm = visit(page, server.url, full, f"{FLOOR_ROWS} of {FLOOR_ROWS} rows")
            box = page.get_by_role("textbox", name="Filter")
            box.fill(FLOOR_FILTER)
            filtered = act(page, lambda: box.press("Enter"), TEXT, f"{FLOOR_MATCHES} of {FLOOR_ROWS} rows")
            # Its table too, as the Studio's switch waits for History's table (and the Gallery's for its pictures).
            switch = act(page, sidebar(page, FLOOR_OTHER_PAGE), both(HEADING, TABLE), FLOOR_OTHER_PAGE)
        return {"first": first, "warm": warm, "filter": filtered, "switch": switch}

    return run


def pictures_scenario(server: StreamlitServer) -> Callable[[Browser], dict[str, Step]]:
    """(d): the Gallery's steps on the least picture grid: first and warm visit, Load more, a search typed and Enter,
    then its other page and back to the pictures through the sidebar."""

    def run(browser: Browser) -> dict[str, Step]:
        with fresh(browser) as context:
            page = context.new_page()
            first = visit(page, server.url, IMAGES, PICTURES_PAGE)
            warm = visit(page, server.url, IMAGES, PICTURES_PAGE)
            more = act(page, lambda: page.get_by_role("button", name="Load more").click(), IMAGES, 2 * PICTURES_PAGE)
            box = page.get_by_role("textbox", name="Search")
            box.fill(PICTURES_FILTER)
            search = act(page, lambda: box.press("Enter"), TEXT, f"of {PICTURES_MATCHES} pictures")
            visit(page, f"{server.url}/home", HEADING, PICTURES_HOME)
            switch = act(page, sidebar(page, PICTURES_LINK), IMAGES, PICTURES_PAGE)
        return {"first": first, "warm": warm, "more": more, "search": search, "switch": switch}

    return run


def history_scenario(server: StreamlitServer, rows: int, matches: int, *, first_only: bool = False
                     ) -> Callable[[Browser], dict[str, Step]]:
    full = both(TABLE, TEXT)
    everything = caption(rows, rows)

    def run(browser: Browser) -> dict[str, Step]:
        with fresh(browser) as context:
            page = context.new_page()
            first = visit(page, f"{server.url}/history", full, everything)
            if first_only:
                return {"first": first}
            warm = visit(page, f"{server.url}/history", full, everything)
            box = page.get_by_role("textbox", name="Search prompts")
            box.fill(history_bench.SEARCH)
            filtered = act(page, lambda: box.press("Enter"), TEXT, caption(matches, rows))
            visit(page, server.url, HEADING, HOME_TITLE)
            switch = act(page, sidebar(page, HISTORY_LINK), full, everything)
        return {"first": first, "warm": warm, "filter": filtered, "switch": switch}

    return run


def gallery_scenario(server: StreamlitServer, matches: int, *, first_only: bool = False
                     ) -> Callable[[Browser], dict[str, Step]]:
    def run(browser: Browser) -> dict[str, Step]:
        with fresh(browser) as context:
            page = context.new_page()
            first = visit(page, f"{server.url}/gallery", IMAGES, GALLERY_PAGE_SIZE)
            if first_only:  # the scale group: the rest is what the other groups time (and a count past 1,000 reads
                return {"first": first}  # "1,000+", which the search step's predicate does not expect)
            warm = visit(page, f"{server.url}/gallery", IMAGES, GALLERY_PAGE_SIZE)
            more = act(page, lambda: page.get_by_role("button", name="Load more").click(), IMAGES, 2 * GALLERY_PAGE_SIZE)
            box = page.get_by_role("textbox", name="Search prompts or tags")
            box.fill(gallery_bench.SEARCH)
            search = act(page, lambda: box.press("Enter"), TEXT, f"{matches:,} result")  # "15 of 179 results", "5 results"
            visit(page, server.url, HEADING, HOME_TITLE)
            switch = act(page, sidebar(page, GALLERY_LINK), IMAGES, GALLERY_PAGE_SIZE)
        return {"first": first, "warm": warm, "more": more, "search": search, "switch": switch}

    return run


def jobs_scenario(server: StreamlitServer) -> Callable[[Browser], dict[str, Step]]:
    """The Image and Video pages (each with its running jobs) opened, then opened again: the warm visit is timed."""

    def run(browser: Browser) -> dict[str, Step]:
        steps = {}
        with fresh(browser) as context:
            page = context.new_page()
            for path, title in (("image", "Image"), ("video", "Video")):
                visit(page, f"{server.url}/{path}", HEADING, title)
                steps[path] = visit(page, f"{server.url}/{path}", HEADING, title)
        return steps

    return run


def warm_floor_scenario(server: StreamlitServer, url_path: str = "") -> Callable[[Browser], dict[str, Step]]:
    """A reference app opened, then opened again (first and warm visit)."""
    content = both(TABLE, TEXT) if url_path != "a" else TEXT

    def run(browser: Browser) -> dict[str, Step]:
        arg = "hello" if url_path == "a" else f"{FLOOR_ROWS} of {FLOOR_ROWS} rows"
        with fresh(browser) as context:
            page = context.new_page()
            first = visit(page, server.url, content, arg)
            warm = visit(page, server.url, content, arg)
        return {"first": first, "warm": warm}

    return run


def seed_history(folder: Path, rows: int) -> int:
    """A History log of ``rows`` jobs (``benchmarks.history``'s); how many match its search."""
    history_bench.seed_sqlite(folder / "tasklog.sqlite3", rows)
    log = TaskLog(folder / "tasklog.sqlite3")
    try:
        return LedgerView(log).count(JobFilter(text=history_bench.SEARCH))
    finally:
        log.close()


def start_jobs(server: StreamlitServer, browser: Browser, data: Path) -> None:
    """Press Generate ``RUNNING`` times on the Image page and on the Video page (the sandbox keeps them running)."""
    with fresh(browser) as context:
        page = context.new_page()
        for path, category in (("image", "image"), ("video", "video")):
            page.goto(f"{server.url}/{path}")
            for n in range(RUNNING):
                box = page.get_by_role("textbox", name="Prompt", exact=True)
                box.fill(f"a running {category} of a paper boat {n}")
                box.press("Tab")
                page.get_by_role("button", name="Generate").first.click()
                wait_for_running(data, category, n + 1)


def wait_for_running(data: Path, category: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        with sqlite3.connect(f"file:{data / 'tasklog.sqlite3'}?mode=ro", uri=True, timeout=10) as db:
            running = db.execute("SELECT COUNT(*) FROM jobs WHERE category = ? AND status IN ('queued', 'processing')",
                                 (category,)).fetchone()[0]
        if running >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} running {category} jobs never showed in the log")
        time.sleep(0.3)


Floor = Callable[[Path], tuple[StreamlitServer, Scenario]]  # a second reference app served on the seeded folder


def beside_the_floor(
    browser: Browser, sandbox: Sandbox, reps: int, seed: Callable[[Path], int],
    scenario: Callable[[StreamlitServer, int], Scenario], *, second: Floor | None = None,
) -> tuple[Pairs, int]:
    """Seed a log, serve the Studio on it and reference app (b), and time ``scenario`` against (b)'s, interleaved
    (``second``: and against a second reference app's, in the same turns); the pairs and what the seed returned (how
    many rows the scenario's search matches)."""
    with tempfile.TemporaryDirectory() as folder:
        matches = seed(Path(folder))
        studio, floor = StreamlitServer(sandbox_env(sandbox, Path(folder))), reference_server("b")
        extra = [second(Path(folder))] if second is not None else []
        return served_in_turns(browser, [studio, floor, *(server for server, _ in extra)],
                               [scenario(studio, matches), floor_scenario(floor), *(run for _, run in extra)],
                               reps), matches


def picture_grid(_folder: Path) -> tuple[StreamlitServer, Scenario]:
    """Reference app (d), the least picture grid, and its Gallery steps."""
    server = reference_server("d")
    return server, pictures_scenario(server)


def history_parts(rows: int) -> Floor:
    """Reference app (e) on the seeded log of ``rows`` jobs (History's own parts, the plain way), and History's steps."""

    def serve(folder: Path) -> tuple[StreamlitServer, Scenario]:
        log = str(folder / "tasklog.sqlite3")
        found = len(history_floor.matching(history_floor.read_jobs(log), history_bench.SEARCH))
        server = reference_server("e", {history_floor.LOG_ENV: log})
        return server, history_scenario(server, rows, found)

    return serve


def group_history(browser: Browser, sandbox: Sandbox, args: argparse.Namespace) -> list[Row]:
    pairs, matches = beside_the_floor(browser, sandbox, args.reps, lambda folder: seed_history(folder, args.history),
                                      lambda studio, found: history_scenario(studio, args.history, found),
                                      second=history_parts(args.history))
    n = f"{args.history:,}"
    rows = []
    for figure, step, floor in ((f"History {n}, first visit", "first", "first visit"),
                                (f"History {n}, warm visit", "warm", "warm visit"),
                                (f"History {n}, filter (type, Enter; {matches:,} rows)", "filter", "filter"),
                                ("Home → History via the sidebar", "switch", "sidebar switch")):
        rows.append(row(pairs, figure, step, step, f"(b) {floor}"))  # the target
        rows.append(row(pairs, figure, step, step, f"(e) {floor}", second=True))  # History's parts, the plain way
    return rows


def group_gallery(browser: Browser, sandbox: Sandbox, args: argparse.Namespace) -> list[Row]:
    pairs, matches = beside_the_floor(browser, sandbox, args.reps, lambda folder: gallery_bench.seed(folder, args.gallery),
                                      gallery_scenario, second=picture_grid)
    n = f"{args.gallery:,}"
    rows = []
    for figure, step, floor_step, floor, grid_step, grid in (  # the Studio's step; (b)'s step and its words; (d)'s
        (f"Gallery {n}, first visit", "first", "first", "first visit", "first", "first visit"),
        (f"Gallery {n}, warm visit", "warm", "warm", "warm visit", "warm", "warm visit"),
        (f"Gallery {n}, search ({matches:,} results)", "search", "filter", "filter", "search", "search"),
        (f"Gallery {n}, Load more", "more", "filter", "filter", "more", "Load more"),
        ("Home → Gallery via the sidebar", "switch", "switch", "sidebar switch", "switch", "sidebar switch"),
    ):
        rows.append(row(pairs, figure, step, floor_step, f"(b) {floor}"))  # the target
        rows.append(row(pairs, figure, step, grid_step, f"(d) {grid}", second=True))  # the floor for a picture grid
    return rows


def group_jobs(browser: Browser, args: argparse.Namespace) -> list[Row]:
    timing = Timing(image_queued=1.0, image_processing=3600.0, video_queued=1.0, video_processing=3600.0)
    with tempfile.TemporaryDirectory() as folder, Sandbox(timing=timing) as sandbox:
        servers: list[StreamlitServer] = []
        try:
            servers.append(StreamlitServer(sandbox_env(sandbox, Path(folder))))  # each kept as it starts: stopped below
            servers.append(reference_server("b"))
            servers.append(reference_server("f"))
            start_jobs(servers[0], browser, Path(folder))
        except BaseException:
            for server in servers:
                server.stop()
            raise
        studio, floor, plain = servers
        pairs = served_in_turns(browser, [studio, floor, plain],
                                [jobs_scenario(studio), warm_floor_scenario(floor), jobs_scenario(plain)], args.reps)
    rows = []
    for path, title in (("image", "Image"), ("video", "Video")):
        figure = f"{title} page, {RUNNING} running jobs, warm visit"
        rows.append(row(pairs, figure, path, "warm", "(b) warm visit"))  # the target
        rows.append(row(pairs, figure, path, path, "(f) warm visit", second=True))  # the page's parts, the plain way
        rows.append(row(pairs, f"{title} page, {RUNNING} running jobs, server run", path, "warm", "(b) server run",
                        server_run=True))
    return rows


def group_scale(browser: Browser, sandbox: Sandbox, args: argparse.Namespace) -> list[Row]:
    rows = []
    for name, seed, scenario in (
        ("History", seed_history, lambda server, n, m: history_scenario(server, n, m, first_only=True)),
        ("Gallery", gallery_bench.seed, lambda server, n, m: gallery_scenario(server, m, first_only=True)),
    ):
        with tempfile.TemporaryDirectory() as big_folder, tempfile.TemporaryDirectory() as small_folder:
            started = time.perf_counter()
            big_matches = seed(Path(big_folder), args.big)
            print(f"  seeded {name} with {args.big:,} in {time.perf_counter() - started:.0f} s", flush=True)
            small_matches = seed(Path(small_folder), args.small)
            big = StreamlitServer(sandbox_env(sandbox, Path(big_folder)))
            small = StreamlitServer(sandbox_env(sandbox, Path(small_folder)))
            pairs = served_in_turns(browser, [big, small], [scenario(big, args.big, big_matches),
                                                            scenario(small, args.small, small_matches)], args.reps)
        rows.append(row(pairs, f"{name} at {args.big:,} vs {args.small:,}, first visit", "first", "first",
                        f"{name} at {args.small:,}"))
    return rows


def group_floor(browser: Browser, args: argparse.Namespace) -> list[Row]:
    rows = []
    for name in ("a", "c"):
        other, floor = reference_server(name), reference_server("b")
        pairs = served_in_turns(browser, [other, floor], [warm_floor_scenario(other, name), warm_floor_scenario(floor)],
                                args.reps)
        rows += [row(pairs, f"({name}), first visit", "first", "first", "(b) first visit"),
                 row(pairs, f"({name}), warm visit", "warm", "warm", "(b) warm visit")]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(GROUPS), type=lambda v: v.split(","), help=f"of {', '.join(GROUPS)}")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (pairs) per group, after one uncounted")
    parser.add_argument("--history", type=int, default=100_000, help="jobs in the History log")
    parser.add_argument("--gallery", type=int, default=10_000, help="results in the Gallery log")
    parser.add_argument("--big", type=int, default=1_000_000, help="the scale group's large log")
    parser.add_argument("--small", type=int, default=1_000, help="the scale group's small log")
    args = parser.parse_args()
    unknown = set(args.only) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    rows: list[Row] = []
    with Sandbox() as sandbox, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for group in (g for g in GROUPS if g in args.only):
            started = time.perf_counter()
            if group == "history":
                rows += group_history(browser, sandbox, args)
            elif group == "gallery":
                rows += group_gallery(browser, sandbox, args)
            elif group == "jobs":
                rows += group_jobs(browser, args)
            elif group == "scale":
                rows += group_scale(browser, sandbox, args)
            else:
                rows += group_floor(browser, args)
            print(f"  {group}: {time.perf_counter() - started:.0f} s", flush=True)
        browser.close()
    print(f"\n{args.reps} pairs per group, order rotated; headless Chromium at 1400 x 1000; "
          f"{os.cpu_count()} cores; drawn = own content shown, nothing stale, script_finished received.\n")
    print(table(rows))


if __name__ == "__main__":
    main()
