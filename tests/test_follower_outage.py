"""A job log outage as the follower's parts see it: said once when it begins and once when it ends, never a traceback
per job falling due."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from rivya import RivyaClient
from rivya.errors import StorageError
from rivya.jobs import JobService
from rivya.outage import OutageNotice
from rivya.polling import RequestBudget
from rivya.sandbox import Sandbox
from rivya.tasklog import TaskLog

from .conftest import FAST_POLLS

DOWN = "the job log cannot be reached"
UP = "the job log answers again"


def said(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for record in caplog.records if text in record.getMessage())


def test_an_outage_is_said_once_however_many_parts_notice_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rivya.jobs")
    outage = OutageNotice()
    for part in ("pass", "step", "step", "saving", "pass"):
        outage.failed(part, StorageError("the job log at x could not be reached (gone)"))
    outage.answered("pass")  # passes read again, but steps still cannot write: not over yet
    outage.answered("step")
    assert outage.down and said(caplog, UP) == 0
    outage.answered("saving")
    outage.answered("saving")
    assert not outage.down and said(caplog, DOWN) == 1 and said(caplog, UP) == 1


def test_jobs_falling_due_while_the_log_refuses_writes_log_one_warning_and_no_traceback(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The log still reads (the pass finds its jobs) but every write fails, as with a disk gone read-only or a
    database holding a lock: each job's step fails, and the log says so once, not once per job and poll."""
    client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS)
    jobs = JobService(client, TaskLog(tmp_path / "log.sqlite3"), tmp_path / "media", backend="sandbox",
                      budget=RequestBudget(rate=1000, burst=1000, step=0))
    try:
        for n in range(5):
            jobs.submit("grok-imagine", f"fox {n}", {}, idempotency_key=f"k{n}")
        writes = jobs.log.update

        def refused(*args: object, **kwargs: object) -> object:
            raise StorageError("the job log at log.sqlite3 could not be written (attempt to write a readonly database)")

        caplog.set_level(logging.INFO, logger="rivya.jobs")
        jobs.log.update = refused  # type: ignore[method-assign]
        steps = 0
        deadline = time.monotonic() + 30
        while steps < 15:  # every job falls due several times while writes fail
            assert time.monotonic() < deadline, "the jobs never fell due"
            steps += jobs.follow_once()
            time.sleep(0.05)
        assert said(caplog, DOWN) == 1 and said(caplog, UP) == 0
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
        jobs.log.update = writes  # type: ignore[method-assign]
        while said(caplog, UP) == 0:
            assert time.monotonic() < deadline, "the follower never said the log answers again"
            jobs.follow_once()
            time.sleep(0.05)
        assert said(caplog, DOWN) == 1 and said(caplog, UP) == 1
    finally:
        jobs.stop()
        jobs.log.close()
