"""Shared fixtures: a real sandbox on 127.0.0.1 (port 0) and clients pointed at it."""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, sync_playwright
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest

from rivya import RivyaClient
from rivya.jobs import JobService
from rivya.polling import PollSchedule
from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import Job
from ui.services import MAIN_SCRIPT

from .postgres_server import PostgresServer

pytest_plugins = ["tests.requirements_venv"]  # a requirements-only environment, installed in the background
ROOT = Path(__file__).resolve().parent.parent
APP = str(MAIN_SCRIPT)  # what AppTest runs: the app's pages (``app.py`` only serves them)
PAGE_SCRIPTS = ("pages/image.py", "pages/video.py", "pages/history.py")
FAST_TIMING = Timing(image_queued=0.1, image_processing=0.2, video_queued=0.1, video_processing=0.3)
FAST_POLLS = PollSchedule(first_delay=0.05, image_interval=0.05, video_interval=0.05, image_max=0.1, video_max=0.1)


class ManualClock:
    """Time that moves only when a test moves it: the sandbox's (``Sandbox(clock=...)``) and, patched in, the
    follower's, so a test steps through minutes of schedule without sleeping and without racing the machine's load."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole run (fails, never skips, without Debian's postgresql)."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """SQLAlchemy URL of a fresh empty database of its own for each test."""
    return postgres.create_database()


ENGINES = ("sqlite", "postgresql")


@pytest.fixture(params=ENGINES)
def log_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's task log lives, once per engine: a SQLite file, then a fresh PostgreSQL database.

    ``TaskLog(log_location)`` opens it; opening it again reaches the same log (as a restart would).
    """
    if request.param == "sqlite":
        return tmp_path / "log.sqlite3"
    return request.getfixturevalue("postgres_url")


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, one per test module (each test gets its own context).

    Not one per run: Playwright's sync API keeps an event loop running in this thread while it is open,
    and tests that drive the server with ``asyncio.run`` (``tests/test_live_refresh.py``) need none.
    """
    from .browser_support import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def app_sandbox(point_app: Callable[..., Path]) -> Iterator[Sandbox]:
    """A sandbox the app reaches through RIVYA_BASE_URL, as it would the real service."""
    with Sandbox(timing=FAST_TIMING) as sandbox:
        point_app(sandbox.url, sandbox.api_key)
        yield sandbox


def creates(sandbox: Sandbox) -> list:
    """The create requests the sandbox received."""
    return [e for e in sandbox.journal if e.method == "POST" and e.path == "/api/v1/generations"]


def until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Wait for work on another thread to show (a generous deadline to fail by, not a measure of speed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def follow(jobs: JobService, job_id: int, timeout: float = 20) -> Job:
    """Step the follower until the job has ended and its result is saved (what the follower thread does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs.follow_once()
        job = jobs.log.get(job_id)
        if job.is_done and not job.awaits_media:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {jobs.log.get(job_id)}")


def wait_for(at: AppTest, predicate: Callable[[AppTest], bool], timeout: float = 20) -> None:
    """Rerun the page until ``predicate`` holds (the follower works in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        if predicate(at):
            return
        time.sleep(0.3)
    raise AssertionError("condition not met; markdown: " + " | ".join(m.value for m in at.markdown))


def parent_of(block: Any, wanted: Callable[[Any], bool]) -> Any:
    """The AppTest block holding the element ``wanted`` picks out, as its direct child (None if none does)."""
    for child in block.children.values():
        if wanted(child):
            return block
        if getattr(child, "children", None):
            found = parent_of(child, wanted)
            if found is not None:
                return found
    return None


def figures(at: AppTest) -> dict[str, str]:
    """Every figure shown, label to value: ``st.metric``'s and the figure rows History draws as HTML (ui/figures.py)."""
    shown = {m.label: m.value for m in at.metric}
    for block in at.html:
        for label, value in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block.value):
            shown[html.unescape(label)] = html.unescape(value)
    return shown


def figure_text(at: AppTest) -> str:
    """The words of History's figure rows (labels, values, the lines under them), one line each, as a reader sees."""
    rows = [block.value for block in at.html if 'class="studio-figures"' in block.value]
    words = [re.sub(r"<[^>]+>", "\n", re.sub(r"<style>.*?</style>", "", row)) for row in rows]
    return "\n".join(line.strip() for text in words for line in html.unescape(text).splitlines() if line.strip())


def open_page(page: str) -> AppTest:
    """The app run as AppTest, switched to one page script, with no exception on the way."""
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def site() -> Iterator[Any]:
    """A local web server whose routes a test sets (``tests.test_media.Site``): where result downloads are fetched from."""
    from .test_media import Site  # it imports this module's helpers

    server = Site()
    yield server
    server.close()
