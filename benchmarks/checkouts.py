"""History's (or the Gallery's) steps on this checkout against another checkout of the Studio, side by side: what a
change is worth.

Issue 21's figures are ratios to reference app (b), and on these shared machines one run's median can be 0.7x
another's, so a change of 10 % is lost between two runs of ``benchmarks.pages``. Here both Studios are served in
the same run from logs seeded alike, their History scenarios (``benchmarks.pages.history_scenario``: warm visit,
filter, Home -> History through the sidebar) or with ``--page gallery`` their Gallery scenarios (``gallery_scenario``:
warm visit, Load more, search, Home -> Gallery) timed in turns (A B, B A...), and each figure is the median of the
per-repetition ratios this checkout / the other one. Below 1.00x: this checkout is quicker.

The other checkout runs its own ``app.py`` and modules (``PYTHONPATH``), with this checkout's ``.streamlit`` config
(a server's working directory); they are the same file unless a change touches it.

Run: git worktree add /tmp/base main && python -m benchmarks.checkouts /tmp/base --reps 12
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import sync_playwright

from benchmarks import gallery as gallery_bench
from benchmarks.browser import Scenario, row, served_in_turns, table
from benchmarks.pages import gallery_scenario, history_scenario, seed_history
from rivya.sandbox import Sandbox
from tests.browser_support import CHROMIUM_ARGS, StreamlitServer, chromium_path, sandbox_env


@dataclass(frozen=True)
class PageSteps:
    """One page's comparison: the steps timed (key: its words), the log's size by default, how a log is seeded (in a
    folder, of n jobs; returns how many its search matches) and the scenario that times the steps on a server."""

    steps: dict[str, str]
    rows: int
    seed: Callable[[Path, int], int]
    scenario: Callable[[StreamlitServer, int, int], Scenario]


PAGES = {
    "history": PageSteps({"warm": "warm visit", "filter": "filter (type, Enter)",
                          "switch": "Home → History via the sidebar"}, 100_000, seed_history, history_scenario),
    "gallery": PageSteps({"warm": "warm visit", "more": "Load more", "search": "search (type, Enter)",
                          "switch": "Home → Gallery via the sidebar"}, 10_000, gallery_bench.seed,
                         lambda server, _rows, matches: gallery_scenario(server, matches)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="the other checkout (a folder holding its app.py)")
    parser.add_argument("--reps", type=int, default=12, help="repetitions (pairs), after one uncounted")
    parser.add_argument("--page", choices=tuple(PAGES), default="history", help="the page whose steps are timed")
    parser.add_argument("--rows", type=int, help="jobs in each log (History 100,000, the Gallery 10,000)")
    args = parser.parse_args()
    base, bench = args.base.resolve(), PAGES[args.page]
    if not (base / "app.py").is_file():
        parser.error(f"{base} holds no app.py")
    with (tempfile.TemporaryDirectory() as mine, tempfile.TemporaryDirectory() as theirs, Sandbox() as sandbox,
          sync_playwright() as p):
        rows = args.rows or bench.rows
        matches = bench.seed(Path(mine), rows)
        bench.seed(Path(theirs), rows)
        here = StreamlitServer(sandbox_env(sandbox, Path(mine)))
        there = StreamlitServer({**sandbox_env(sandbox, Path(theirs)), "PYTHONPATH": str(base)}, script=base / "app.py")
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            pairs = served_in_turns(browser, [here, there], [bench.scenario(here, rows, matches),
                                                             bench.scenario(there, rows, matches)], args.reps)
        finally:
            browser.close()
    name = args.page.capitalize()
    print(f"\n{args.reps} pairs, order rotated; {name} at {rows:,} jobs; the reference is {base}.\n")
    print(table([row(pairs, f"{name}, {words}", step, step, "the other checkout's")
                 for step, words in bench.steps.items()]))


if __name__ == "__main__":
    main()
