"""Server CPU and memory while 1, 10 and 50 sessions watch pending jobs on the Image page; time to open one more.

Starts the real server (``streamlit run app.py``) on a sandbox whose image jobs stay pending, then
opens lightweight sessions that speak Streamlit's websocket protocol as the browser does: they ask
for the page, and rerun the panel's fragment whenever the server's auto-rerun timer says so (the
browser's ``setInterval``). The server process's own CPU time comes from ``/proc/<pid>/stat``, so
the clients' and the sandbox's work is not counted. "1 s refreshes" re-runs every job panel each second,
whatever interval the server asked for: the cost when every job is near its expected finish (the notices
watcher every page carries keeps its own pace, 2 s or 10 s, and is counted in every row).

With ``--churn``: the server's resident memory (RSS) idle, then after each of five rounds in which 50 sessions
open (on Home, Image, Video, Gallery and History in turn), draw their page and close, as ratios to the first idle
figure (issue 21's target: back within 10 %). Streamlit keeps a closed session for ``disconnectedSessionTTL``
(120 s) in case its tab reconnects; the churn server is started with ``--ttl`` (default 5 s) instead so a round
does not wait two minutes, and each idle figure is read once that time has passed and the server has dropped them.

Run: python -m benchmarks.sessions     (about 8 minutes; prints a markdown table)
     python -m benchmarks.sessions --counts 1,10 --runs 1 --window 10     (a quick look)
     python -m benchmarks.sessions --churn                                (RSS over five rounds, about 3 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect

from rivya.sandbox import Sandbox, Timing
from tests.browser_support import CHROMIUM_ARGS, StreamlitServer, chromium_path
from ui.live import SAFETY_SECONDS

# The notices watcher's timer: its slow safety timer (ui/live.py; the page's script wakes it when the log changes).
NOTICE_INTERVALS = (SAFETY_SECONDS,)

MODEL = "grok-imagine"
FINISHED_RESULTS = 2  # shown above the pending jobs, as after a morning's work
PENDING_JOBS = 4
OPEN_TIMEOUT = 60.0  # a session not shown by then counts as never opened
FRAGMENT_DONE = ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
FULL_DONE = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY
EARLY_FOR_RERUN = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN


@dataclass
class Session:
    """One browser tab's conversation with the server, without the browser."""

    url: str
    page: str = "image"
    fixed_interval: float | None = None  # rerun fragments at this interval instead of the server's
    refresh: bool = True  # False: never rerun fragments (a refresh without widget states could swallow a click)
    fragment_runs: int = 0
    full_runs: int = 0
    full_starts: int = 0  # full script runs begun, including one cut short by a rerun
    page_hash: str = ""
    widget_ids: dict[str, str] = field(default_factory=dict)
    intervals: dict[str, float] = field(default_factory=dict)  # auto-rerun interval the server asked for, by fragment
    last_refresh: list[str] = field(default_factory=list)  # element (and "block:") kinds the last refresh sent
    refreshed: dict[str, list[str]] = field(default_factory=dict)  # the same, for the last refresh of each fragment
    _refresh: list[str] | None = None
    _ws: ClientConnection | None = None
    _reader: asyncio.Task | None = None
    _timers: dict[str, tuple[float, asyncio.Task]] = field(default_factory=dict)
    _full_done: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(self) -> float:
        """Connect and ask for the page; seconds until its first full run has finished."""
        started = time.perf_counter()
        origin = self.url.replace("ws://", "http://").split("/_stcore")[0]
        self._ws = await connect(self.url, subprotocols=["streamlit"], origin=origin, max_size=None, open_timeout=OPEN_TIMEOUT)
        self._reader = asyncio.create_task(self._read())
        await self._send_rerun()
        await asyncio.wait_for(self._full_done.wait(), OPEN_TIMEOUT)
        return time.perf_counter() - started

    async def close(self) -> None:
        for _, task in self._timers.values():
            task.cancel()
        self._timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    async def click_generate(self, prompt: str) -> None:
        """Type a prompt (one run: Generate is off while the box is empty, and Streamlit drops a press of a button
        that was off in the last run), then press Generate (a second run), as the browser sends them."""
        typed = WidgetState(id=self.widget_ids[f"{MODEL}:prompt"], string_value=prompt)
        for states in ([typed], [typed, WidgetState(id=self.widget_ids[f"{MODEL}:generate"], trigger_value=True)]):
            self._full_done.clear()
            await self._send_rerun(widgets=states)
            await asyncio.wait_for(self._full_done.wait(), OPEN_TIMEOUT)

    def set_fixed_interval(self, seconds: float | None) -> None:
        """Re-arm every fragment timer at ``seconds`` (None: the server's own intervals from now on)."""
        self.fixed_interval = seconds
        for fragment_id, (interval, task) in list(self._timers.items()):
            task.cancel()
            self._arm(fragment_id, interval)

    async def _send_rerun(self, *, fragment_id: str = "", widgets: list[WidgetState] | None = None) -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.page_name = self.page
        state.page_script_hash = self.page_hash
        state.fragment_id = fragment_id
        state.is_auto_rerun = bool(fragment_id)
        state.widget_states.widgets.extend(widgets or [])
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-US"
        assert self._ws is not None
        await self._ws.send(msg.SerializeToString())

    def _arm(self, fragment_id: str, interval: float) -> None:
        if not self.refresh:
            return
        # Forced refreshes apply to the job panel's fragment; the page's notices watcher keeps its own pace.
        every = self.fixed_interval if self.fixed_interval and interval not in NOTICE_INTERVALS else interval

        async def tick() -> None:
            while True:
                await asyncio.sleep(every)
                await self._send_rerun(fragment_id=fragment_id)

        self._timers[fragment_id] = (interval, asyncio.create_task(tick()))

    async def _read(self) -> None:
        assert self._ws is not None
        async for raw in self._ws:
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "new_session" and msg.metadata.run.fragment_ids:
                self._refresh = []
            elif kind == "new_session":
                self.full_starts += 1
                self._refresh = None
                for _, task in self._timers.values():  # a full run re-registers its fragments
                    task.cancel()
                self._timers.clear()
            elif kind == "navigation":  # the page actually shown, as the browser tracks it (not the main script's)
                self.page_hash = msg.navigation.page_script_hash
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                widget = element.WhichOneof("type")
                if self._refresh is not None:
                    self._refresh.append(widget)
                if widget in ("text_area", "button"):
                    widget_id = getattr(element, widget).id
                    self.widget_ids[widget_id.split("-", 2)[-1]] = widget_id  # "$$ID-<hash>-<user key>"
            elif kind == "delta" and self._refresh is not None:
                self._refresh.append(f"block:{msg.delta.add_block.WhichOneof('type')}")
            elif kind == "auto_rerun":
                self.intervals[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
                known = self._timers.get(msg.auto_rerun.fragment_id)
                if known is None or known[0] != msg.auto_rerun.interval:
                    if known:
                        known[1].cancel()
                    self._arm(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
            elif kind == "stop_auto_rerun":
                for fragment_id in msg.stop_auto_rerun.fragment_ids:
                    if fragment_id in self._timers:
                        self._timers.pop(fragment_id)[1].cancel()
            elif kind == "script_finished":
                # A refresh that ran while another was already asked for ends "early for rerun", its work done.
                if msg.metadata.run.fragment_ids and msg.script_finished in (FRAGMENT_DONE, EARLY_FOR_RERUN):
                    self.fragment_runs += 1
                    self.last_refresh = self._refresh or []
                    for fragment_id in msg.metadata.run.fragment_ids:
                        self.refreshed[fragment_id] = self.last_refresh
                elif msg.script_finished == FULL_DONE:
                    self.full_runs += 1
                    self._full_done.set()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def logged(data_dir: Path) -> list[tuple[str, str]]:
    """(status, media_paths) of every job in the server's log, read-only."""
    db = sqlite3.connect(f"file:{data_dir / 'tasklog.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT status, media_paths FROM jobs").fetchall()
    finally:
        db.close()


async def wait_until(check: Callable[[], bool], seconds: float, what: str, data_dir: Path) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}; the log holds {logged(data_dir)}")
        await asyncio.sleep(0.5)


async def prepare_jobs(ws_url: str, sandbox: Sandbox, data_dir: Path) -> None:
    """Finished results first (quick jobs), then jobs that stay pending for the whole run."""
    submitter = Session(ws_url, refresh=False)
    await submitter.open()
    for n in range(FINISHED_RESULTS):
        await submitter.click_generate(f"a finished lighthouse {n}")
    await wait_until(
        lambda: sum(1 for status, media in logged(data_dir) if status == "succeeded" and media != "[]") >= FINISHED_RESULTS,
        60, "the finished results", data_dir,
    )
    sandbox.state.timing = Timing(image_queued=1.0, image_processing=3600.0)
    for n in range(PENDING_JOBS):
        await submitter.click_generate(f"a pending paper boat {n}")
    await wait_until(lambda: sum(1 for status, _ in logged(data_dir) if status in ("queued", "processing")) >= PENDING_JOBS,
                     60, "the pending jobs", data_dir)
    await submitter.close()


async def measure(pid: int, sessions: list[Session], window: float) -> tuple[float, float, float]:
    """Server cores used, RSS (MB) at the end, and panel refreshes per session per second, over one window."""
    runs0 = sum(s.fragment_runs for s in sessions)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(window)
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    refreshes = (sum(s.fragment_runs for s in sessions) - runs0) / len(sessions) / (t1 - t0)
    return (cpu1 - cpu0) / (t1 - t0), rss_mb(pid), refreshes


async def open_sessions(ws_url: str, count: int) -> tuple[list[Session], int]:
    """Open ``count`` sessions at once; those not shown within OPEN_TIMEOUT are closed and counted."""

    async def one() -> Session | None:
        session = Session(ws_url)
        try:
            await session.open()
            return session
        except (TimeoutError, OSError):
            await session.close()
            return None

    opened = await asyncio.gather(*(one() for _ in range(count)))
    sessions = [s for s in opened if s is not None]
    return sessions, count - len(sessions)


async def open_one_more(ws_url: str, tries: int) -> list[float]:
    """Seconds for a new session to get its page, up to ``tries`` times (each closed again); inf if it never did."""
    times: list[float] = []
    while len(times) < tries and float("inf") not in times:  # one that never opens is enough to know
        extra = Session(ws_url)
        try:
            times.append(await extra.open())
        except (TimeoutError, OSError):
            times.append(float("inf"))
        finally:
            await extra.close()
        await asyncio.sleep(1)
    return times


def browser_open_times(url: str, tries: int) -> tuple[list[float], list[float]]:
    """Seconds for Chromium to show the Image page's title and a pending job's card: in a fresh profile (Streamlit's
    JavaScript downloaded and compiled), then in a new tab of that profile (a new session, the static files cached, as
    for a teammate who has opened the app before)."""
    from playwright.sync_api import sync_playwright

    cold: list[float] = []
    cached: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            while len(cold) < tries and float("inf") not in cold + cached:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                for times in (cold, cached):
                    page = context.new_page()
                    started = time.perf_counter()
                    try:
                        page.goto(f"{url}/image")
                        page.get_by_text("usually about").first.wait_for(timeout=OPEN_TIMEOUT * 1000)
                        times.append(time.perf_counter() - started)
                    except Exception:  # a page that never shows counts as never
                        times.append(float("inf"))
                context.close()
        finally:
            browser.close()
    return cold, cached


def spread(values: list[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


async def bench(server: StreamlitServer, sandbox: Sandbox, data_dir: Path, args: argparse.Namespace) -> list[str]:
    ws_url = server.url.replace("http://", "ws://") + "/_stcore/stream"
    pid = server.process.pid
    await prepare_jobs(ws_url, sandbox, data_dir)
    rows = []
    sessions: list[Session] = []
    try:
        for count in args.counts:
            scenarios = [("server's interval", None)] + ([("1 s refreshes", 1.0)] if count == max(args.counts) else [])
            more, failed = await open_sessions(ws_url, count - len(sessions))
            sessions += more
            await asyncio.sleep(5)  # let the opening runs pass
            for name, fixed in scenarios:
                for s in sessions:
                    s.set_fixed_interval(fixed)
                await asyncio.sleep(2)
                results = [await measure(pid, sessions, args.window) for _ in range(args.runs)]
                cores, rss, refreshes = (list(column) for column in zip(*results, strict=True))
                opens = await open_one_more(ws_url, args.runs)
                print(f"  {count} sessions, {name}: {cores} cores, opens {opens}", file=sys.stderr, flush=True)
                shown = f"{len(sessions)}" + (f" ({failed} more never opened)" if failed else "")
                rows.append(
                    f"| {shown} | {name} | {statistics.median(refreshes):.2f} | {spread(cores, '.2f')} | "
                    f"{statistics.median(rss):.0f} | {spread(opens, '.2f')} s |"
                )
            for s in sessions:
                s.set_fixed_interval(None)
        if args.browser:
            cold, cached = await asyncio.to_thread(browser_open_times, server.url, args.runs)
            rows.append(f"| {len(sessions)} + Chromium, fresh profile | page with a pending job shown in | | | | "
                        f"{spread(cold, '.2f')} s |")
            rows.append(f"| {len(sessions)} + Chromium, new tab (static files cached) | page with a pending job shown in | | | | "
                        f"{spread(cached, '.2f')} s |")
    finally:
        for s in sessions:
            await s.close()
    return rows


CHURN_PAGES = ("", "image", "video", "gallery", "history")


async def churn(server: StreamlitServer, sandbox: Sandbox, data_dir: Path, args: argparse.Namespace) -> list[str]:
    """RSS idle, then after each round of ``args.sessions`` sessions opened and closed; one table row per figure."""
    ws_url = server.url.replace("http://", "ws://") + "/_stcore/stream"
    pid = server.process.pid
    await prepare_jobs(ws_url, sandbox, data_dir)
    await one_round(ws_url, 5)  # every page's first run (imports, caches made once per process) before the baseline
    await idle(args.ttl)
    first = rss_mb(pid)
    rows = [f"| idle, before any round | {first:.0f} | 1.00 | |"]
    for number in range(1, args.rounds + 1):
        peak = await one_round(ws_url, args.sessions, pid)
        await idle(args.ttl)
        now = rss_mb(pid)
        rows.append(f"| after round {number} ({args.sessions} sessions opened and closed) | {now:.0f} | {now / first:.2f} "
                    f"| {peak:.0f} |")
        print(f"  round {number}: {now:.0f} MB (peak {peak:.0f})", file=sys.stderr, flush=True)
    return rows


async def one_round(ws_url: str, count: int, pid: int | None = None) -> float:
    """Open ``count`` sessions over the app's pages, let their first runs pass, close them; RSS while open (MB)."""
    sessions = [Session(ws_url, page=CHURN_PAGES[n % len(CHURN_PAGES)]) for n in range(count)]

    async def opened(session: Session) -> None:
        with contextlib.suppress(TimeoutError, OSError):
            await session.open()

    await asyncio.gather(*(opened(s) for s in sessions))
    await asyncio.sleep(3)  # a few panel refreshes
    peak = rss_mb(pid) if pid else float("nan")
    for s in sessions:
        await s.close()
    return peak


async def idle(ttl: float) -> None:
    """Wait past the closed sessions' reconnect window, plus a little for the server to drop them."""
    await asyncio.sleep(ttl + 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--churn", action="store_true", help="RSS over rounds of sessions opened and closed")
    parser.add_argument("--rounds", default=5, type=int, help="--churn: rounds")
    parser.add_argument("--sessions", default=50, type=int, help="--churn: sessions per round")
    parser.add_argument("--ttl", default=5, type=int, help="--churn: seconds a closed session is kept for reconnecting")
    parser.add_argument("--counts", default="1,10,50", type=lambda v: [int(x) for x in v.split(",")])
    parser.add_argument("--runs", default=3, type=int, help="measurement windows per row (the median is shown)")
    parser.add_argument("--window", default=30.0, type=float, help="seconds per measurement window")
    parser.add_argument("--no-browser", dest="browser", action="store_false", help="skip the Chromium open time")
    args = parser.parse_args()
    with Sandbox(timing=Timing(image_queued=0.5, image_processing=1.0)) as sandbox, tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        env = {"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": sandbox.api_key, "RIVYA_DATA_DIR": str(data_dir)}
        if args.churn:
            env["STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL"] = str(args.ttl)
        server = StreamlitServer(env)
        try:
            rows = asyncio.run((churn if args.churn else bench)(server, sandbox, data_dir, args))
        finally:
            server.stop()
    if args.churn:
        print(f"Server RSS (MB) with {FINISHED_RESULTS} finished and {PENDING_JOBS} pending jobs in the log; "
              f"closed sessions kept {args.ttl} s. Target: every round's ratio <= 1.10.\n")
        print("| when | RSS, MB | ratio to the first idle figure | RSS with the round's sessions open |")
        print("|---|---|---|---|")
        print("\n".join(rows))
        return
    print(f"Image page with {FINISHED_RESULTS} finished and {PENDING_JOBS} pending jobs; {args.runs} windows of "
          f"{args.window:g} s each (median, range). CPU is the server process's own time.\n")
    print("| sessions | panels refresh at | refreshes/s per session | server CPU, cores | server RSS, MB "
          "| one more session opens in |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
