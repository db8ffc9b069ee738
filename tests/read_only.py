"""A disk that turns read-only under the job log, for real, as root.

The ext4 immutable bit (``chattr +i``) on the log's file, its WAL file and its folder: root cannot write them either,
not even through a connection opened before (SQLite gets EPERM: "disk I/O error"; a fresh connection is opened
read-only: "attempt to write a readonly database"). ``chmod`` would not do: root ignores it, and it never stops a file
opened before. A remount read-only would not either: the kernel refuses it (EBUSY) while the log's connections hold
their files open for writing. The ``-shm`` index stays writable: SQLite writes it through a shared memory mapping,
and a write fault on an immutable file kills the process with SIGBUS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _immutable(paths: list[Path], on: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], capture_output=True, text=True, check=False)


@contextmanager
def read_only_disk(log_file: Path) -> Iterator[None]:
    """The log's file, WAL file and folder cannot be written by anyone (root included) inside the block."""
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("needs root and chattr: only the immutable bit stops root, and files opened before, from writing")
    paths = [log_file, log_file.with_name(log_file.name + "-wal"), log_file.parent]
    assert all(path.exists() for path in paths), "the log must be open (WAL mode keeps its -wal file then)"
    done = _immutable(paths, True)
    if done.returncode != 0:
        _immutable(paths, False)
        pytest.skip(f"this filesystem has no immutable bit: {done.stderr.strip()}")
    try:
        yield
    finally:
        assert _immutable(paths, False).returncode == 0  # else the test's folder could never be removed
