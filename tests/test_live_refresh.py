"""The real server: what a live panel refresh sends, and the pace the server asks the browser for.

AppTest runs whole pages only, so the refreshes themselves are watched here, over Streamlit's
websocket, with the benchmark's lightweight session (it behaves as the browser's timer does).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from benchmarks.sessions import Session, logged
from rivya.constants import SLOW_REFRESH_SECONDS
from rivya.sandbox import Sandbox, Timing

from .browser_support import StreamlitServer


async def wait_for(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


def stream(server: StreamlitServer) -> str:
    return server.url.replace("http://", "ws://") + "/_stcore/stream"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    """The real server on a sandbox, its Image panel holding one finished result and one job that stays pending."""
    data_dir = tmp_path_factory.mktemp("live")
    with Sandbox(timing=Timing(image_queued=0.2, image_processing=0.5)) as sandbox:
        env = {"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": sandbox.api_key, "RIVYA_DATA_DIR": str(data_dir)}
        server = StreamlitServer(env)

        async def make_jobs() -> None:
            maker = Session(stream(server), refresh=False)
            await maker.open()
            await maker.click_generate("a finished lighthouse")
            await wait_for(lambda: any(s == "succeeded" and m != "[]" for s, m in logged(data_dir)), 30)
            sandbox.state.timing = Timing(image_queued=0.5, image_processing=600)
            await maker.click_generate("a paper boat still sailing")
            await maker.close()

        try:
            asyncio.run(make_jobs())
            statuses = [s for s, _ in logged(data_dir)]
            assert len(statuses) == 2 and statuses.count("succeeded") == 1, statuses
            yield server
        finally:
            server.stop()


def test_a_refresh_redraws_only_the_live_cards(served: StreamlitServer) -> None:
    async def scenario() -> tuple[list[list[str]], list[float]]:
        watcher = Session(stream(served))
        await watcher.open()
        opened_intervals = list(watcher.intervals.values())
        watcher.set_fixed_interval(0.5)  # refresh sooner than the server asks, to see a few refreshes quickly
        # the panel's refresh redraws the pending job's card (its progress bar); other fragments refresh beside it
        await wait_for(lambda: any("progress" in kinds for kinds in watcher.refreshed.values()), 20)
        refreshes = [list(kinds) for kinds in watcher.refreshed.values()]
        await watcher.close()
        return refreshes, opened_intervals

    refreshes, intervals = asyncio.run(scenario())
    # a job just sent is far from its expected finish: no fragment (the panel; the page's notices) refreshes sooner
    assert min(intervals) == SLOW_REFRESH_SECONDS, intervals
    for refresh in refreshes:
        assert not {"imgs", "video", "download_button"} & set(refresh), refresh  # ...the finished result is not
        assert len(refresh) < 10, refresh  # a few elements per live card


def test_the_first_visit_after_server_start_runs_its_page_once(tmp_path) -> None:
    """A deep link opened first after a restart runs the script once, not a legacy-mode run and then a rerun.

    ``app.py`` leaves Streamlit's legacy mode for ``pages/`` at server start (``ui.services.leave_legacy_pages_mode``).
    """
    with Sandbox() as sandbox:
        env = {"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": sandbox.api_key, "RIVYA_DATA_DIR": str(tmp_path)}
        server = StreamlitServer(env)
        try:
            async def first_visit() -> Session:
                visitor = Session(stream(server), page="history", refresh=False)
                await visitor.open()
                await visitor.close()
                return visitor

            visitor = asyncio.run(first_visit())
        finally:
            server.stop()
    assert (visitor.full_starts, visitor.full_runs) == (1, 1)
