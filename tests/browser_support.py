"""Starting the real Streamlit server and Debian's Chromium for browser tests."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    """Debian's chromium; its absence is a failure with a fix, never a skip."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError("Browser tests need Debian's chromium: apt-get install chromium")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """``streamlit run app.py`` (the README's command) in a subprocess with the given environment.

    Secrets are read from ``secrets`` only (default: no file), never from a developer's own
    ``.streamlit/secrets.toml``, whose real key would otherwise win over the test's settings.
    """

    def __init__(self, env: dict[str, str], *, secrets: Path | None = None, port: int | None = None) -> None:
        self.port = port or free_port()  # given when the secrets must name the address first (sign-in's redirect_uri)
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("RIVYA_", "APP_PASSWORD", "DAILY_CREDIT_BUDGET"))}
        self.log_path = ARTIFACTS / f"streamlit-{self.port}.log"
        ARTIFACTS.mkdir(exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        secrets_file = secrets or ARTIFACTS / f"no-secrets-{self.port}.toml"  # never created
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--secrets.files", str(secrets_file)],
            cwd=ROOT,
            env={**base, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/_stcore/health", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"streamlit did not start; see {self.log_path}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
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
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()
