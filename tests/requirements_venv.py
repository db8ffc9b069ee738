"""A virtual environment made from ``requirements.txt`` alone, as the README installs the app (pytest plugin).

Not ``--system-site-packages``: the development packages (requirements-dev.txt) once brought in what sign-in needs
(httpx) and hid that the app's own requirements lacked it (issue 20). ``pip install`` here waits mostly on the
package index, not the CPU (3-6 minutes on a busy CI machine), so when a test that needs it is collected the
install starts at once, in the background, and runs while the rest of the suite does; the ``requirements_python``
fixture waits for it. pip compiles the modules as it installs (in that background), so the app's first start from
the new environment is not slowed by compiling pandas and pyarrow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = "requirements_python"
INSTALL_TIMEOUT = 1500  # seconds
# Names the folder every process of one run shares: set by the run's main process, inherited by pytest-xdist's
# workers. Each worker collects every test; the first to claim the folder (an atomic mkdir) installs while the others
# wait for its exit code.
RUN_VARIABLE = "STUDIO_REQUIREMENTS_RUN"


def _folder() -> Path:
    return Path(tempfile.gettempdir()) / f"requirements-only-{os.environ[RUN_VARIABLE]}"


class Install:
    """``python -m venv`` then ``pip install -r requirements.txt`` in a shell, started by the first process of the run
    that collects a test needing it; its exit code lands in ``rc``, which ``python()`` waits for in any process."""

    def __init__(self) -> None:
        folder = _folder()
        self.log = folder / "install.log"
        self.rc = folder / "rc"
        venv = folder / "venv"
        self.interpreter = venv / "bin" / "python"
        self.started = time.monotonic()
        self.process: subprocess.Popen | None = None
        try:
            folder.mkdir()
        except FileExistsError:
            return  # another worker of this run installs
        script = (f'"{sys.executable}" -m venv "{venv}" && "{self.interpreter}" -m pip install --quiet '
                  f'--disable-pip-version-check -r "{ROOT / "requirements.txt"}"; echo $? > "{self.rc}.part" '
                  f'&& mv "{self.rc}.part" "{self.rc}"')
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(["bash", "-c", script], stdout=log, stderr=subprocess.STDOUT)

    def python(self) -> Path:
        """The environment's interpreter once the install has ended; a failure names pip's last words."""
        while not self.rc.exists():
            if time.monotonic() - self.started > INSTALL_TIMEOUT:
                raise RuntimeError(f"pip install -r requirements.txt took over {INSTALL_TIMEOUT} s")
            time.sleep(0.5)  # waiting on another process's install: nothing to block on but its file
        if self.rc.read_text().strip() != "0":
            raise RuntimeError(f"pip install -r requirements.txt failed:\n{self.log.read_text()[-3000:]}")
        return self.interpreter

    def close(self) -> None:
        """Stop an install still running; the folder goes when the whole run ends (another worker may still use it)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_install: Install | None = None


def pytest_configure(config: pytest.Config) -> None:
    """The run's main process names the run before any worker starts (workers inherit its environment)."""
    if not hasattr(config, "workerinput"):
        os.environ[RUN_VARIABLE] = uuid.uuid4().hex


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the install as soon as a collected test needs it (not at all otherwise)."""
    global _install
    if _install is None and any(FIXTURE in getattr(item, "fixturenames", ()) for item in items):
        _install = Install()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _install is not None:
        _install.close()
    if not hasattr(session.config, "workerinput"):  # the run's main process (or a run without xdist): remove it
        shutil.rmtree(_folder(), ignore_errors=True)


@pytest.fixture(scope="session")
def requirements_python() -> Path:
    """The interpreter of a virtual environment made from ``requirements.txt`` alone."""
    if _install is None:  # only when collection did not see the test (it always does in a normal run)
        raise RuntimeError("the requirements-only install was not started")
    return _install.python()
