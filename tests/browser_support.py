"""Starting the real Streamlit server and Debian's Chromium for browser tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect

from rivya.sandbox import Sandbox

from .postgres_server import free_port

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    """Debian's chromium; its absence is a failure with a fix, never a skip."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Browser tests need Debian's chromium: apt-get install chromium")
    return path


@contextmanager
def new_page(browser: Browser, request: pytest.FixtureRequest, **context: object) -> Iterator[Page]:
    """A page in a fresh browser context (1400 px wide unless told), screenshotted into ``test-artifacts/`` afterwards."""
    ctx = browser.new_context(**{"viewport": {"width": 1400, "height": 1000}, **context})
    page = ctx.new_page()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
    ctx.close()


def open_page(page: Page, url: str) -> None:
    """Go to ``url`` and wait for the page's heading; no exception on the page."""
    page.goto(url)
    expect(page.locator("h1").first).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def type_prompt(page: Page, text: str) -> None:
    """Type a prompt and commit it by leaving the box (Ctrl+Enter would also press Generate)."""
    box = page.get_by_role("textbox", name="Prompt", exact=True)
    box.fill(text)
    box.press("Tab")
    expect(page.get_by_text(f"{len(text):,} / 5,000 characters")).to_be_visible()


def generate_button(page: Page) -> Locator:
    """The form's Generate button. While a run draws the page, the button may show twice for a moment (the new one
    drawn, the old one not yet removed); both are the same widget, so either press is the same press."""
    return page.get_by_role("button", name="Generate").first


def tasks_with(sandbox: Sandbox, prompt: str, *, at_least: int = 0, timeout: float = 15) -> list:
    """The sandbox's tasks for a prompt, once there are ``at_least`` of them (a create may wait for the request budget)."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = [t for t in sandbox.state.tasks.values() if t.prompt == prompt]
        if len(tasks) >= at_least or time.monotonic() > deadline:
            return tasks
        time.sleep(0.1)


def let_everything_end(sandbox: Sandbox) -> None:
    """Every task the sandbox holds ends at its next status check (a "#fail" prompt fails, the others succeed): with
    jobs held (``Timing(..._processing=3600)``), a test decides when they end instead of racing the clock."""
    with sandbox.state.lock:
        for task in sandbox.state.tasks.values():
            task.queued_for = task.processing_for = 0


def sandbox_env(sandbox: Sandbox, data_dir: Path, **settings: str) -> dict[str, str]:
    """The app's environment for a sandbox and a data folder, plus any other setting."""
    return {"RIVYA_BASE_URL": sandbox.url, "RIVYA_API_KEY": sandbox.api_key, "RIVYA_DATA_DIR": str(data_dir), **settings}


@contextmanager
def served_app(sandbox: Sandbox, data_dir: Path, **settings: str) -> Iterator[StreamlitServer]:
    """The real server on ``sandbox`` with its data in ``data_dir`` (kept as ``.data_dir``), stopped afterwards."""
    server = StreamlitServer(sandbox_env(sandbox, data_dir, **settings))
    server.data_dir = data_dir
    try:
        yield server
    finally:
        server.stop()


def stop_process(process: subprocess.Popen) -> None:
    """Ask a child process to end; kill it if it has not within 10 s."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


class StreamlitServer:
    """``streamlit run app.py`` (the README's command) in a subprocess with the given environment.

    Secrets are read from ``secrets`` only (default: no file), never from a developer's own
    ``.streamlit/secrets.toml``, whose real key would otherwise win over the test's settings.
    """

    def __init__(
        self, env: dict[str, str], *, secrets: Path | None = None, port: int | None = None, script: Path | None = None,
        python: Path | None = None, start_timeout: float = 60,
    ) -> None:
        """``script``: a page of a test's own instead of ``app.py`` (it finds the app's modules on ``PYTHONPATH``);
        ``python``: another environment's interpreter (default: this one); ``start_timeout``: seconds to answer."""
        self.port = port or free_port()  # given when the secrets must name the address first (sign-in's redirect_uri)
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("RIVYA_", "APP_PASSWORD", "DAILY_CREDIT_BUDGET"))}
        self.log_path = ARTIFACTS / f"streamlit-{self.port}.log"
        ARTIFACTS.mkdir(exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        secrets_file = secrets or ARTIFACTS / f"no-secrets-{self.port}.toml"  # never created
        self.process = subprocess.Popen(
            [str(python or sys.executable), "-m", "streamlit", "run", str(script or "app.py"), "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--secrets.files", str(secrets_file)],
            cwd=ROOT,
            env={**base, "PYTHONPATH": str(ROOT), **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/_stcore/health", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"streamlit did not start; see {self.log_path}")

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


class OidcProvider:
    """A local OpenID Connect provider (PyPI ``oidc-provider-mock``) in a subprocess on 127.0.0.1.

    Any client id and secret are accepted; ``people`` are offered as one-click accounts on its
    authorize page (the claims of each must include ``sub``).
    """

    def __init__(self, people: list[dict[str, str]]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metadata_url = f"{self.url}/.well-known/openid-configuration"
        self.log_path = ARTIFACTS / f"oidc-{self.port}.log"
        ARTIFACTS.mkdir(exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        claims = [arg for person in people for arg in ("--user-claims", json.dumps(person))]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(self.port), *claims],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.metadata_url, timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the OpenID Connect provider did not start; see {self.log_path}")

    def auth_secrets(self, app_port: int) -> str:
        """The ``[auth]`` section of a secrets.toml for an app served on ``app_port``."""
        return (
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
            'cookie_secret = "a-test-cookie-secret-0123456789abcdef"\n'
            'client_id = "imagine-studio-test"\n'
            'client_secret = "imagine-studio-test-secret"\n'
            f'server_metadata_url = "{self.metadata_url}"\n'
        )

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()

# The Generate button, enabled or not. Counted, not held: while a page runs again, Streamlit shows its stale elements
# beside the new ones for a moment, and a notice appearing or going moves every element after it, so one button may
# briefly be there twice.
GENERATE_ENABLED = ".st-key-generate-row button:enabled"
GENERATE_DISABLED = ".st-key-generate-row button:disabled"
