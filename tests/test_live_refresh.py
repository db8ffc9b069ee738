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
from rivya.sandbox import Sandbox, Timing
from ui.jobs_view import SLOW_REFRESH_SECONDS

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
    async def scenario() -> tuple[list[str], list[float]]:
        watcher = Session(stream(served))
        await watcher.open()
        opened_intervals = list(watcher.intervals.values())
        watcher.set_fixed_interval(0.5)  # refresh sooner than the server asks, to see a few refreshes quickly
        await wait_for(lambda: watcher.fragment_runs >= 2, 20)
        refresh = list(watcher.last_refresh)
        await watcher.close()
        return refresh, opened_intervals

    refresh, intervals = asyncio.run(scenario())
    assert intervals == [SLOW_REFRESH_SECONDS]  # a job just sent is far from its expected finish
    assert "progress" in refresh  # the pending job's card is redrawn...
    assert not {"imgs", "video", "download_button"} & set(refresh), refresh  # ...the finished result is not
    assert len(refresh) < 10, refresh  # a few elements per live card
