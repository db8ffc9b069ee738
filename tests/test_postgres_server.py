"""The throwaway PostgreSQL server the tests start themselves: real, isolated per database, never run as root."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from .postgres_server import PostgresServer


def scalar(url: str, statement: str) -> object:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(statement)).scalar_one()
    finally:
        engine.dispose()


def proc_uid(pid: int) -> int:
    """Real uid of a process, from /proc (``Uid: real effective saved fs``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for process {pid}")


def test_server_answers_through_sqlalchemy(postgres_url: str) -> None:
    assert make_url(postgres_url).drivername == "postgresql+psycopg"
    version = scalar(postgres_url, "SELECT version()")
    assert isinstance(version, str) and version.startswith("PostgreSQL ")


def test_each_created_database_is_independent(postgres: PostgresServer) -> None:
    first, second = postgres.create_database(), postgres.create_database()
    assert first != second
    engine = sa.create_engine(first)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE only_here (id integer)"))
        connection.execute(sa.text("INSERT INTO only_here VALUES (1)"))
    engine.dispose()
    assert scalar(first, "SELECT count(*) FROM only_here") == 1
    assert scalar(second, "SELECT to_regclass('only_here') IS NULL") is True


def test_drop_database_removes_it(postgres: PostgresServer) -> None:
    url = postgres.create_database("to_be_dropped")
    assert scalar(url, "SELECT current_database()") == "to_be_dropped"
    postgres.drop_database("to_be_dropped")
    assert scalar(postgres.url, "SELECT count(*) FROM pg_database WHERE datname = 'to_be_dropped'") == 0


def test_server_does_not_run_as_root(postgres: PostgresServer) -> None:
    expected = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert expected != 0
    assert proc_uid(postgres.pid) == expected
    data_directory = scalar(postgres.url, "SELECT current_setting('data_directory')")
    assert isinstance(data_directory, str)
    assert os.stat(data_directory).st_uid == expected


def test_stop_ends_the_server_and_removes_its_files_even_with_a_session_open() -> None:
    server = PostgresServer().start()
    pid, directory = server.pid, server.directory
    assert directory is not None and directory.is_dir()
    engine = sa.create_engine(server.url)
    connection = engine.connect()
    assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
    server.stop()  # fast shutdown: the open session is cut instead of being waited for
    with pytest.raises(sa.exc.OperationalError, match="administrator command"):
        connection.execute(sa.text("SELECT 1"))
    connection.invalidate()
    engine.dispose()
    server.stop()  # a second stop (as atexit would do) is harmless
    assert not Path(f"/proc/{pid}").exists()
    assert not directory.exists()
