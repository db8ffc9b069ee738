"""Shared fixtures: a real sandbox on 127.0.0.1 (port 0) and clients pointed at it."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest

from rivya import RivyaClient
from rivya.polling import PollSchedule
from rivya.sandbox import Sandbox, Timing
from ui.services import MAIN_SCRIPT

ROOT = Path(__file__).resolve().parent.parent
APP = str(MAIN_SCRIPT)  # what AppTest runs: the app's pages (``app.py`` only serves them)
PAGE_SCRIPTS = ("pages/image.py", "pages/video.py", "pages/history.py")
FAST_TIMING = Timing(image_queued=0.1, image_processing=0.2, video_queued=0.1, video_processing=0.3)
FAST_POLLS = PollSchedule(first_delay=0.05, image_interval=0.05, video_interval=0.05, image_max=0.1, video_max=0.1)


@pytest.fixture(autouse=True, scope="session")
def no_developer_secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """AppTest reads ``.streamlit/secrets.toml``; a developer's real key there would win over a test's settings."""
    saved = streamlit_config.get_option("secrets.files")
    streamlit_config.set_option("secrets.files", [str(tmp_path_factory.mktemp("secrets") / "absent.toml")])
    yield
    streamlit_config.set_option("secrets.files", saved)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(timing=FAST_TIMING, seed=7) as server:
        yield server


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[RivyaClient]:
    with RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS, max_retries=2) as c:
        yield c


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), color: str = "teal") -> bytes:
    """A small real image in ``fmt``."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def point_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Point the app (as AppTest runs it) at a backend URL and key; returns its data dir.

    The app's shared Studio for that configuration is closed afterwards, so no follower
    thread outlives the test.
    """
    from rivya.studio import close_shared

    def point(url: str, key: str) -> Path:
        monkeypatch.setenv("RIVYA_BASE_URL", url)
        monkeypatch.setenv("RIVYA_API_KEY", key)
        monkeypatch.setenv("RIVYA_DATA_DIR", str(tmp_path))
        return tmp_path

    yield point
    close_shared()


def open_page(page: str) -> AppTest:
    """The app run as AppTest, switched to one page script, with no exception on the way."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at
