"""A throwaway real PostgreSQL server for the tests, started by the tests themselves.

Why not a mock or a shared server: the task log's PostgreSQL paths (``FOR UPDATE SKIP LOCKED``, several replicas)
only mean something against the real engine, and a private cluster in a temporary directory needs no setup
beyond Debian's ``postgresql`` package. PostgreSQL refuses to run as root, so as root the cluster belongs to the
``postgres`` system user.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

USER = "studio"  # the cluster's superuser (trust authentication: no password anywhere)
START_TIMEOUT = 30.0
STOP_GRACE = 5.0
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, postgres) were not found. Install Debian's postgresql package: "
    "apt-get install -y postgresql"
)


def find_binaries() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``postgres``, else the PATH's."""

    def version(bin_dir: str) -> tuple[int, ...]:
        name = Path(bin_dir).parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    for bin_dir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if all(os.access(Path(bin_dir, tool), os.X_OK) for tool in ("initdb", "postgres")):
            return Path(bin_dir)
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres and Path(initdb).parent == Path(postgres).parent:
        return Path(initdb).parent
    raise RuntimeError(INSTALL_HINT)


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it; tiny race until postgres binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One private PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 and a unix socket there.

    Use as a context manager, or ``start()`` / ``stop()``. ``stop()`` is idempotent and also runs at exit, so an
    interrupted test run leaves no server behind.
    """

    def __init__(self) -> None:
        self.port = 0
        self.directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        if self._process is not None:
            return self
        bin_dir = find_binaries()
        atexit.register(self.stop)
        self.directory = Path(tempfile.mkdtemp(prefix="studio-pg-"))
        try:
            as_user = self._run_as()
            if os.geteuid() == 0:
                entry = pwd.getpwnam("postgres")
                os.chown(self.directory, entry.pw_uid, entry.pw_gid)
            self._initdb(bin_dir, as_user)
            self.port = free_port()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self) -> None:
        """Run the postmaster on this cluster's data directory and port, and wait until it accepts connections."""
        assert self.directory is not None
        log = (self.directory / "postgres.log").open("ab")
        with log:
            self._process = subprocess.Popen(
                [
                    str(find_binaries() / "postgres"), "-D", str(self.directory / "data"), "-p", str(self.port),
                    "-k", str(self.directory), "-h", "127.0.0.1",
                    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                    "-c", "max_connections=400", "-c", "shared_buffers=64MB",
                ],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
                env=self._environment(), **self._run_as(),
            )  # fmt: skip
        self._wait_until_ready()

    def halt(self) -> None:
        """Stop the server as an outage would, keeping its data and port: ``resume()`` starts it again."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # Fast shutdown (SIGINT: disconnects open sessions, unlike SIGTERM's wait for them), SIGKILL if stuck.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def resume(self) -> None:
        """Start a halted server again on the same data and port (clients reconnect as after a real outage)."""
        if self._process is None:
            self._launch()

    def stop(self) -> None:
        """Halt the server for good and remove its data; idempotent."""
        self.halt()
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()

    # -- databases -----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the maintenance database ``postgres``."""
        return self.database_url("postgres")

    @property
    def pid(self) -> int:
        """Process id of the postmaster (the ``postgres`` process itself, no shell in between)."""
        if self._process is None:
            raise RuntimeError("the PostgreSQL server is not running")
        return self._process.pid

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str | None = None) -> str:
        """A fresh empty database (a unique name when ``name`` is None); returns its SQLAlchemy URL."""
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        with self._admin() as connection:
            # FILE_COPY (PostgreSQL 15+) copies template1's few files instead of WAL-logging every block: faster here.
            strategy = sql.SQL(" STRATEGY FILE_COPY" if connection.info.server_version >= 150000 else "")
            connection.execute(sql.SQL("CREATE DATABASE {}{}").format(sql.Identifier(name), strategy))
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name`` even while sessions are still connected to it (they are terminated)."""
        with self._admin() as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # -- internals -----------------------------------------------------------------------------------------------

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname="postgres", autocommit=True, connect_timeout=5)

    @staticmethod
    def _run_as() -> dict[str, Any]:
        """Popen arguments that drop root to the ``postgres`` user (PostgreSQL refuses to run as root)."""
        if os.geteuid() != 0:
            return {}
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError as error:
            raise RuntimeError(f"running as root but there is no 'postgres' system user. {INSTALL_HINT}") from error
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    @staticmethod
    def _environment() -> dict[str, str]:
        """The caller's environment without PG* variables (a developer's PGDATA/PGPORT must not leak in)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        return env

    def _initdb(self, bin_dir: Path, as_user: dict[str, Any]) -> None:
        assert self.directory is not None
        data = self.directory / "data"
        outputs = []
        for locale in ("C.UTF-8", "C"):
            shutil.rmtree(data, ignore_errors=True)
            result = subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8",
                 f"--locale={locale}", "--no-sync"],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=self.directory,
                env=self._environment() | {"LC_ALL": locale}, **as_user,
            )  # fmt: skip
            if result.returncode == 0:
                return
            outputs.append(result.stdout + result.stderr)
            if "locale" not in outputs[-1].lower():
                break
        raise RuntimeError("initdb failed:\n" + "\n".join(outputs)[-3000:])

    def _wait_until_ready(self) -> None:
        assert self._process is not None and self.directory is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited with code {self._process.returncode}:\n{self._log_tail()}")
            with contextlib.suppress(psycopg.OperationalError), self._admin():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not accept connections within {START_TIMEOUT:.0f} s:\n{self._log_tail()}")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        assert self.directory is not None
        try:
            return (self.directory / "postgres.log").read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"
