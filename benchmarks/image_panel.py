"""The Image page's run with 4 running jobs (issue 21): median seconds of warm runs.

    python -m benchmarks.image_panel [--runs 30] [--profile] [--single]    (AppTest: the script's own run)
    python -m benchmarks.image_panel --server [--runs 30]    (the real server: a tab opened until its run finished)

AppTest: four jobs of another backend (the follower leaves them alone) stay "processing" in a fresh log, so every
run draws the panel's live part as it is while a batch of four is on its way. ``--server``: the real server
(``streamlit run app.py``) on a sandbox, two finished results and four pending jobs made through the page as
``benchmarks.sessions`` makes them, then fresh websocket sessions timed from connect to their first full run's
end. Absolute times depend on the machine; compare before/after in one sitting, interleaved.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time

from streamlit.testing.v1 import AppTest

from rivya.sandbox import Sandbox


def _seed(batch: bool) -> None:
    from ui.services import get_studio

    log = get_studio().log
    for n in range(4):
        row = log.add(idempotency_key=f"bench-{n}", backend="elsewhere", model="grok-imagine", category="image",
                      prompt=f"a lighthouse, take {n + 1}", params={}, batch_id="bench" if batch else None)
        log.update(row.id, status="processing")


def _server(runs: int) -> None:
    """Warm opens of the Image page on the real server while four jobs run."""
    import asyncio
    from pathlib import Path

    from benchmarks.sessions import Session, prepare_jobs
    from tests.browser_support import StreamlitServer

    with Sandbox() as sandbox, tempfile.TemporaryDirectory() as data:
        env = {"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": sandbox.api_key, "RIVYA_DATA_DIR": data}
        server = StreamlitServer(env)
        ws = server.url.replace("http://", "ws://") + "/_stcore/stream"

        async def opens() -> list[float]:
            await prepare_jobs(ws, sandbox, Path(data))
            times = []
            for n in range(runs + 3):
                tab = Session(ws, refresh=False)
                took = await tab.open()
                await tab.close()
                if n >= 3:  # the first opens warm the server's caches
                    times.append(took)
            return times

        try:
            times = asyncio.run(opens())
        finally:
            server.stop()
    print(f"server: median {statistics.median(times):.3f} s  min {min(times):.3f} s  ({runs} warm opens)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--single", action="store_true", help="four single jobs rather than one batch of four")
    parser.add_argument("--server", action="store_true", help="time the real server instead of AppTest")
    args = parser.parse_args()
    if args.server:
        _server(args.runs)
        return
    from ui.services import MAIN_SCRIPT

    with Sandbox() as sandbox, tempfile.TemporaryDirectory() as data:
        os.environ |= {"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": sandbox.api_key, "RIVYA_DATA_DIR": data}
        at = AppTest.from_file(str(MAIN_SCRIPT), default_timeout=60)
        at.run()
        at.switch_page("pages/image.py").run()
        _seed(batch=not args.single)
        for _ in range(3):
            at.run()  # warm
        assert not at.exception, at.exception
        times = []
        profiler = cProfile.Profile() if args.profile else None
        for _ in range(args.runs):
            start = time.perf_counter()
            if profiler:
                profiler.enable()
            at.run()
            if profiler:
                profiler.disable()
            times.append(time.perf_counter() - start)
        print(f"median {statistics.median(times):.3f} s  min {min(times):.3f} s  ({args.runs} warm runs)")
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()
