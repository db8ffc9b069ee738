"""History as people feel it: the real server in headless Chromium at 1k, 100k and 1M logged jobs, on SQLite and PostgreSQL.

For each size and engine a log is seeded with the same generated jobs:

- SQLite, the way an existing team's log is upgraded: rows written at schema v3, then opened once, so
  migrations v4-v5 build the indexes, the prompt search index and the rollup (both times are printed);
  then 90 % of the jobs are given to 20 people and 2 % of the results are starred by the team;
- PostgreSQL, on a throwaway server of its own (``tests.postgres_server``): ``TaskLog`` creates the schema,
  the same rows (people included) arrive by ``COPY``, the same stars are added, the rollup is rebuilt from
  the rows and the tables ANALYZEd (load and rollup times printed; see ``seed_postgres``).

Then, three times, a fresh ``streamlit run app.py`` serves that log (on PostgreSQL through ``DATABASE_URL``,
with a temporary ``MEDIA_DIR``; a sandbox in this process answers the API, whose key PostgreSQL requires)
and Chromium measures:

- first visit: a new browser profile opens /history, until the table and its "N of M jobs"
  caption are drawn and the script run has ended;
- warm visit: the same browser opens /history again (a new session; static files cached);
- from Home via the sidebar: the Home page open, then "History & credits" clicked in the sidebar, until the
  table's caption shows and the run ended (how people move between pages: no page load, no new session);
- filter: words typed into "Search prompts" and Enter, until the caption shows their count;
- favourites: the search cleared, then "Favourites" pressed (under "More filters"), until the caption shows their count;
- the server process's resident memory after that (VmRSS) and its peak since start (VmHWM),
  read from /proc (the Streamlit process only, not PostgreSQL's);
- for scale, the Home page (a few metrics and links) opened in a new profile and again in the
  same one: what any page of the app costs in this browser on this machine, whatever the log holds.

Streamlit's file watcher re-reads every loaded module's path after each script run; to see a
server without it: STREAMLIT_SERVER_FILE_WATCHER_TYPE=none python -m benchmarks.history

"Mine" needs a signed-in browser, so it is timed below the page, in SQL on each engine (count and first
page of one person's jobs, then of their failed ones, on a fresh ``LedgerView`` each time: what a first
filter costs). Last, eight threads append to a new log on each engine at once.

The table has one row per size and engine, with medians of the runs. Prompts are drawn from a few
hundred words with a Zipf spread (plus a long tail of rare made-up words), so searches match like real
ones do (match counts may differ a little between engines: their word indexes differ, see ``rivya.dialect``).

Run: python -m benchmarks.history                                              (both engines; long)
     python -m benchmarks.history --sizes 1000 --runs 1                        (a quick look)
     python -m benchmarks.history --sizes 100000 --runs 1 --engines postgresql (one engine)
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
from playwright.sync_api import Browser, Page, expect, sync_playwright

from rivya.ledger import JobFilter, LedgerView
from rivya.people import TEAM
from rivya.sandbox import Sandbox
from rivya.tasklog import MIGRATIONS, TaskLog
from tests.browser_support import CHROMIUM_ARGS, StreamlitServer, chromium_path
from tests.postgres_server import PostgresServer

SEARCH = "misty lighthouse"
PEOPLE = 20
MINE = "person3@example.com"
# The words prompts are made of (space-separated), most common first within each kind.
SUBJECTS = (
    "fox lighthouse ramen orchid city river storm kite boat cliff cat dog owl whale dragon robot astronaut castle forest "
    "mountain garden market train bicycle violin teapot lantern samurai knight wizard mermaid tiger butterfly jellyfish "
    "volcano desert island village bridge tower cathedral library cafe diner spaceship portrait skyline waterfall meadow "
    "canyon glacier harbor alley rooftop subway greenhouse"
)
ADJECTIVES = (
    "red blue golden misty neon ancient tiny giant quiet stormy snowy rainy sunlit moonlit foggy cozy abandoned futuristic "
    "vintage colorful dark bright glowing frozen floating crystal wooden paper rusty"
)
STYLES = (
    "watercolor oil painting photo cinematic lighting isometric pixel art anime sketch charcoal ukiyo-e 35mm film bokeh "
    "macro wide angle studio portrait octane render low poly pastel noir dramatic soft light golden hour long exposure"
)
GLUE = "a an the of in at on with under over by near and"
TIMEOUT_MS = 120_000
ENGINES = ("sqlite", "postgresql")
COLUMNS = ("idempotency_key", "backend", "submitted_at", "updated_at", "finished_at", "model", "category", "prompt", "params",
           "task_id", "status", "reserved_credits", "final_credits", "expected_credits")


def _zipf(n: int) -> np.ndarray:
    weights = 1 / np.arange(1, n + 1)
    return weights / weights.sum()


def _rows(count: int) -> Iterator[tuple]:
    """``count`` jobs over the last 90 days, oldest first: 85 % succeeded, 8 % failed, 5 % refused, 2 % queued."""
    rng = np.random.default_rng(count)
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
    tail = np.array(sorted({"".join(rng.choice(syllables, rng.integers(2, 5))) for _ in range(6000)}), object)
    rng.shuffle(tail)

    def pick(words: str | np.ndarray, shape: int | tuple[int, int], zipf: bool = False) -> np.ndarray:
        vocabulary = np.asarray(words.split() if isinstance(words, str) else words, object)
        return vocabulary[rng.choice(len(vocabulary), shape, p=_zipf(len(vocabulary)) if zipf else None)]

    head = np.stack([pick(GLUE, count), pick(ADJECTIVES, count), pick(SUBJECTS, count, True), pick(GLUE, count),
                     pick(SUBJECTS, count, True)], axis=1).tolist()
    styles, rare = pick(STYLES, (count, 4)).tolist(), pick(tail, (count, 10), True).tolist()
    n_styles, n_rare = rng.integers(1, 5, count).tolist(), rng.integers(0, 11, count).tolist()
    video = (rng.random(count) < 0.3).tolist()
    draw = rng.random(count)
    status = np.select([draw < 0.85, draw < 0.93, draw < 0.98], ["succeeded", "failed", "rejected"], "queued").tolist()
    now = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "ms")
    submitted = now - (np.arange(count, 0, -1) * (90 * 86_400_000 // count)).astype("timedelta64[ms]")
    finished = submitted + rng.integers(5_000, 90_000, count).astype("timedelta64[ms]")
    submitted_at = np.char.add(np.datetime_as_string(submitted, unit="ms"), "+00:00").tolist()
    finished_at = np.char.add(np.datetime_as_string(finished, unit="ms"), "+00:00").tolist()
    for n in range(count):
        state, cost = status[n], 10 if video[n] else 4
        done = finished_at[n] if state in ("succeeded", "failed") else None
        prompt = " ".join([*head[n], *styles[n][: n_styles[n]], *rare[n][: n_rare[n]]])
        yield (
            f"seed-{n}", "bench", submitted_at[n], done or submitted_at[n], done,
            "grok-imagine-video" if video[n] else "grok-imagine", "video" if video[n] else "image", prompt,
            '{"aspect_ratio": "1:1"}', f"task_{n}", state, None if state == "rejected" else cost,
            {"succeeded": cost, "failed": 0, "queued": 0}.get(state), cost,
        )


def seed_sqlite(path: Path, count: int) -> tuple[float, float]:
    """Write ``count`` jobs at schema v3 in one transaction, then open the log (migrating it); returns both times."""
    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN")
    for number, script in enumerate(MIGRATIONS[:3], start=1):  # v1-v3 hold no triggers: ";" ends each statement
        for statement in filter(str.strip, script.split(";")):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    db.executemany(f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", _rows(count))
    db.execute("COMMIT")
    db.close()
    written = time.perf_counter()
    TaskLog(path).close()
    migrated = time.perf_counter()
    with sqlite3.connect(path) as db:
        db.execute(f"UPDATE jobs SET person = 'person' || (id % {PEOPLE}) || '@example.com', "
                   f"person_name = 'Person ' || (id % {PEOPLE}) WHERE id % 10 <> 0")
        db.execute("INSERT INTO stars (job_id, person, starred_at) SELECT id, ?, submitted_at FROM jobs "
                   "WHERE status = 'succeeded' AND id % 50 = 0", (TEAM,))
    return written - started + time.perf_counter() - migrated, migrated - written



def _person(job_id: int) -> tuple[str | None, str | None]:
    """Who made job ``job_id``: 90 % of the jobs spread over ``PEOPLE`` people, as ``seed_sqlite``'s UPDATE does."""
    return (f"person{job_id % PEOPLE}@example.com", f"Person {job_id % PEOPLE}") if job_id % 10 else (None, None)


def _libpq(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as psycopg itself takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def seed_postgres(url: str, count: int) -> tuple[float, float]:
    """Load ``count`` jobs into a new PostgreSQL log with ``COPY``, then rebuild its rollup; returns both times.

    ``TaskLog`` creates the schema (the current version). Row by row, the change counter's trigger would update
    its one row once per job inside the load's transaction (each new version of that row scanned past by the
    next: time grows with the square of the rows) and the rollup's trigger would upsert once per job (100k jobs
    took 250 s so on a busy 2-core machine, 20 s without). So the load runs with those two off and then sets the
    counter as they would have; ``result_ms``'s trigger stays on. The stored rollup definition is then dropped,
    so opening the log re-creates and refills ``job_days`` from the rows (what ``TaskLog`` does whenever the
    money rule changes): that second time is printed apart.
    """
    started = time.perf_counter()
    TaskLog(url).close()
    with psycopg.connect(_libpq(url)) as db:  # one transaction
        db.execute("ALTER TABLE jobs DISABLE TRIGGER jobs_changes, DISABLE TRIGGER job_days_insert")
        columns = ("id", *COLUMNS, "person", "person_name")
        with db.cursor().copy(f"COPY jobs ({', '.join(columns)}) FROM STDIN") as copy:
            for job_id, row in enumerate(_rows(count), start=1):
                copy.write_row((job_id, *row, *_person(job_id)))
        db.execute("ALTER TABLE jobs ENABLE TRIGGER jobs_changes, ENABLE TRIGGER job_days_insert")
        db.execute("SELECT setval(pg_get_serial_sequence('jobs', 'id'), (SELECT MAX(id) FROM jobs))")
        db.execute("UPDATE log_changes SET rows = (SELECT COUNT(*) FROM jobs), changes = changes + (SELECT COUNT(*) FROM jobs)")
        db.execute("INSERT INTO stars (job_id, person, starred_at) SELECT id, %s, submitted_at FROM jobs "
                   "WHERE status = 'succeeded' AND id %% 50 = 0", (TEAM,))
        db.execute("DELETE FROM rollup_definition")
    written = time.perf_counter()
    TaskLog(url).close()
    with psycopg.connect(_libpq(url), autocommit=True) as db:
        db.execute("ANALYZE")
    return written - started, time.perf_counter() - written

def _settled(page: Page) -> None:
    """Wait until the script run has ended: Streamlit marks the previous run's elements stale until then."""
    page.wait_for_function("!document.querySelector('[data-stale=\"true\"]')", timeout=TIMEOUT_MS)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def _visit(page: Page, url: str, caption: str | None) -> float:
    """Seconds from navigating to ``url`` until its title (and the table with ``caption``) are drawn and the run ended."""
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    expect(page.locator("h1").first).to_be_visible(timeout=TIMEOUT_MS)
    if caption:
        expect(page.get_by_test_id("stDataFrame")).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_text(caption)).to_be_visible(timeout=TIMEOUT_MS)
    _settled(page)
    return time.perf_counter() - started


def _memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))


def run_once(browser: Browser, env: dict[str, str], rows: int, matches: int, favourites: int) -> dict[str, float]:
    server = StreamlitServer(env)
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        url, caption = f"{server.url}/history", f"{rows:,} of {rows:,} jobs, newest first"
        first = _visit(page, url, caption)
        warm = _visit(page, url, caption)
        box = page.get_by_role("textbox", name="Search prompts")
        box.fill(SEARCH)
        started = time.perf_counter()
        box.press("Enter")
        expect(page.get_by_text(f"{matches:,} of {rows:,} jobs, newest first")).to_be_visible(timeout=TIMEOUT_MS)
        _settled(page)
        filtered = time.perf_counter() - started
        box.fill("")
        box.press("Enter")
        expect(page.get_by_text(caption)).to_be_visible(timeout=TIMEOUT_MS)
        _settled(page)
        page.get_by_role("button", name="More filters").click()  # "Show only" is under it
        started = time.perf_counter()
        page.get_by_role("button", name="Favourites").click()
        expect(page.get_by_text(f"{favourites:,} of {rows:,} jobs, newest first")).to_be_visible(timeout=TIMEOUT_MS)
        _settled(page)
        starred = time.perf_counter() - started
        rss, peak = _memory(server.process.pid)
        home = _visit(page, server.url, None)
        # How people move between pages: the sidebar switches page inside the open app (no page load).
        started = time.perf_counter()
        page.get_by_test_id("stSidebarNav").get_by_role("link", name="History & credits").click()
        expect(page.get_by_text(caption)).to_be_visible(timeout=TIMEOUT_MS)
        _settled(page)
        switch = time.perf_counter() - started
        context.close()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        home_first = _visit(context.new_page(), server.url, None)
        context.close()
    finally:
        server.stop()
    return {"first": first, "warm": warm, "filter": filtered, "favourites": starred, "rss": rss, "peak": peak, "home": home,
            "home_first": home_first, "switch": switch}


def mine_seconds(log: TaskLog) -> tuple[float, float]:
    """Seconds for the count and first page of one person's jobs, then of their failed ones (fresh view each)."""
    times = []
    for jobs in (JobFilter(person=MINE), JobFilter(person=MINE, statuses=("failed",))):
        view = LedgerView(log)
        started = time.perf_counter()
        view.page(jobs, limit=100 if view.count(jobs) else 0)
        times.append(time.perf_counter() - started)
    return times[0], times[1]


@contextlib.contextmanager
def seeded(
    engine: str, rows: int, data: Path, postgres: PostgresServer | None
) -> Iterator[tuple[Path | str, str, dict[str, str]]]:
    """A log of ``rows`` jobs on ``engine``: (what ``TaskLog`` opens, "seed times (size)", the server's settings for it).

    On PostgreSQL the database is dropped afterwards; the SQLite file goes with ``data``.
    """
    if engine == "sqlite":
        path = data / "tasklog.sqlite3"
        write, migrate = seed_sqlite(path, rows)
        yield path, f"{write:.0f} s + {migrate:.0f} s ({path.stat().st_size / 1e6:,.0f} MB)", {}
        return
    assert postgres is not None
    name = f"history_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    try:
        write, rollup = seed_postgres(url, rows)
        with psycopg.connect(_libpq(url)) as db:
            size_mb = db.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 1e6
        media = data / "media"
        media.mkdir()
        yield url, f"{write:.0f} s + {rollup:.0f} s ({size_mb:,.0f} MB)", {"DATABASE_URL": url, "MEDIA_DIR": str(media)}
    finally:
        postgres.drop_database(name)


def size_row(browser: Browser, engine: str, rows: int, runs: int, postgres: PostgresServer | None) -> list[str]:
    with (
        tempfile.TemporaryDirectory() as data,
        Sandbox() as sandbox,
        seeded(engine, rows, Path(data), postgres) as (where, seed, env),
    ):
        log = TaskLog(where)
        matches = LedgerView(log).count(JobFilter(text=SEARCH))
        favourites = LedgerView(log).count(JobFilter(starred_by=TEAM))
        mine = [mine_seconds(log) for _ in range(runs)]
        log.close()
        env |= {"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": sandbox.api_key, "RIVYA_DATA_DIR": data}
        samples = [run_once(browser, env, rows, matches, favourites) for _ in range(runs)]
    median = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
    return [
        engine, f"{rows:,}", seed, f"{median['first']:.2f} s",
        f"{median['warm']:.2f} s", f"{median['switch']:.2f} s", f"{median['filter']:.2f} s ({matches:,} rows)",
        f"{median['favourites']:.2f} s ({favourites:,} rows)",
        f"{statistics.median(m[0] for m in mine) * 1000:.0f} ms / {statistics.median(m[1] for m in mine) * 1000:.0f} ms",
        f"{median['rss']:.0f} MB",
        f"{median['peak']:.0f} MB", f"{median['home_first']:.2f} s / {median['home']:.2f} s",
    ]


def writers_row(engine: str, postgres: PostgresServer | None) -> str:
    """Eight threads appending at once to a new log on ``engine``: every row kept, and how fast."""
    with tempfile.TemporaryDirectory() as data:
        name = f"writers_{uuid.uuid4().hex[:12]}"
        log = TaskLog(Path(data) / "log.sqlite3" if postgres is None else postgres.create_database(name))

        def write(n: int) -> None:
            for i in range(250):
                log.add(idempotency_key=f"{n}-{i}", backend="b", model="grok-imagine", category="image", prompt="p", params={})

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        count = log.count()
        log.close()
        if postgres is not None:
            postgres.drop_database(name)
    return f"{engine}: 8 threads × 250 appends: {count:,} of 2,000 rows kept, {2000 / elapsed:,.0f} appends/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000", help="logged jobs, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="fresh servers per size (the table shows medians)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="where the log lives, comma-separated: sqlite, postgresql")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if unknown := set(engines) - set(ENGINES):
        parser.error(f"unknown engine {', '.join(sorted(unknown))}: choose from {', '.join(ENGINES)}")
    print(f"| engine | logged jobs | seed: write + migrate/rollup (size) | first visit | warm visit | from Home via the sidebar "
          f"| filter \"{SEARCH}\" | Favourites | Mine / Mine + failed (SQL) | server RSS | RSS peak "
          "| Home page: first / warm visit (baseline) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    with contextlib.ExitStack() as stack, sync_playwright() as p:
        postgres = stack.enter_context(PostgresServer()) if "postgresql" in engines else None
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for rows in (int(s) for s in args.sizes.split(",")):
            for engine in engines:
                server = postgres if engine == "postgresql" else None
                print("| " + " | ".join(size_row(browser, engine, rows, args.runs, server)) + " |", flush=True)
        browser.close()
        print()
        for engine in engines:
            print(writers_row(engine, postgres if engine == "postgresql" else None))


if __name__ == "__main__":
    main()
