"""A virtual environment made from ``requirements.txt`` alone, as the README installs the app (pytest plugin).

Not ``--system-site-packages``: the development packages (requirements-dev.txt) once brought in what sign-in needs
(httpx) and hid that the app's own requirements lacked it (issue 20). ``pip install`` here waits mostly on the
package index, not the CPU (3-6 minutes on a busy CI machine), so when a test that needs it is collected the
install starts at once, in the background, and runs while the rest of the suite does; the ``requirements_python``
fixture waits for it. pip compiles the modules as it installs (in that background), so the app's first start from
the new environment is not slowed by compiling pandas and pyarrow.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = "requirements_python"
INSTALL_TIMEOUT = 1500  # seconds


class Install:
    """``python -m venv`` then ``pip install -r requirements.txt`` in a shell, started now, awaited by ``python()``."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="requirements-only-"))
        self.log = self.folder / "install.log"
        venv = self.folder / "venv"
        self.interpreter = venv / "bin" / "python"
        script = (f'"{sys.executable}" -m venv "{venv}" && "{self.interpreter}" -m pip install --quiet '
                  f'--disable-pip-version-check -r "{ROOT / "requirements.txt"}"')
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(["bash", "-c", script], stdout=log, stderr=subprocess.STDOUT)
        self.started = time.monotonic()

    def python(self) -> Path:
        """The environment's interpreter once the install has ended; a failure names pip's last words."""
        try:
            self.process.wait(max(1.0, INSTALL_TIMEOUT - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise RuntimeError(f"pip install -r requirements.txt took over {INSTALL_TIMEOUT} s") from None
        if self.process.returncode != 0:
            raise RuntimeError(f"pip install -r requirements.txt failed:\n{self.log.read_text()[-3000:]}")
        return self.interpreter

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_install: Install | None = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the install as soon as a collected test needs it (not at all otherwise)."""
    global _install
    if _install is None and any(FIXTURE in getattr(item, "fixturenames", ()) for item in items):
        _install = Install()


def pytest_sessionfinish() -> None:
    if _install is not None:
        _install.close()


@pytest.fixture(scope="session")
def requirements_python() -> Path:
    """The interpreter of a virtual environment made from ``requirements.txt`` alone."""
    if _install is None:  # only when collection did not see the test (it always does in a normal run)
        raise RuntimeError("the requirements-only install was not started")
    return _install.python()
