"""The SQLite job log's disk turns read-only: reads still work, so only a refused write tells (real files made
read-only by ``tests/read_only.py``, AppTest, the real sandbox)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rivya import database
from rivya.catalog import MODELS
from rivya.errors import StorageError
from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import TaskLog
from ui.outage import READ_ONLY_NOTICE
from ui.services import get_studio
from ui.session import SESSION

from .conftest import creates, open_page, wait_for
from .read_only import read_only_disk
from .test_outage import IMAGE, errors, generate, warnings

READ_ONLY = "The job log can be read but not written right now"
UNREACHABLE = "The job log cannot be reached right now."
TITLES = {"pages/video.py": "Video", "pages/gallery.py": "Gallery", "pages/history.py": "History & credits"}


def add(log: TaskLog, key: str) -> object:
    return log.add(idempotency_key=key, backend="sandbox", model=IMAGE, category="image", prompt=f"p {key}", params={})


def read_only_page(at: AppTest) -> bool:
    return not at.exception and warnings(at).count(READ_ONLY) == 1 and UNREACHABLE not in warnings(at)


# -- the log ------------------------------------------------------------------------------------------------------


def test_a_write_refused_by_a_read_only_disk_is_remembered_until_a_probe_can_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "WRITE_PROBE_SECONDS", 0.0)  # every check probes: this test asks on purpose
    log = TaskLog(tmp_path / "log" / "tasklog.sqlite3")
    assert log.path is not None
    job = add(log, "before")
    with read_only_disk(log.path):
        assert log.signature() == (1, job.id, 1)  # reads work: a read alone never notices
        assert log.unwritable is None and log.check_writable()  # nothing refused yet: no probe, nothing known
        with pytest.raises(StorageError):
            log.update(job.id, status="processing")  # through a connection opened before the disk turned read-only
        refused = log.unwritable
        assert refused is not None and refused.since <= time.time() and refused.reason
        assert not log.check_writable()  # the probe's fresh connection cannot write either
        log.db.engine.dispose()
        assert log.count() == 1  # a pooled connection opened now: SQLite opens it read-only, for good
        with pytest.raises(StorageError):
            add(log, "refused")
        assert log.unwritable == refused  # the first refusal's time is kept
    assert log.check_writable() and log.unwritable is None
    # Nothing was written meanwhile, and writes go through again: the read-only connections were dropped.
    assert log.count() == 1 and log.get(job.id).status == "submitting"
    assert log.update(job.id, status="processing").status == "processing" and add(log, "after")
    log.close()


def test_a_write_that_changes_rows_clears_the_state_and_one_that_changes_none_does_not(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log" / "tasklog.sqlite3")
    assert log.path is not None
    job = add(log, "before")
    with read_only_disk(log.path), pytest.raises(StorageError):
        log.update(job.id, status="processing")
    assert log.unwritable is not None
    log.db.execute("UPDATE jobs SET polls = polls + 1 WHERE id = -1")  # went through, but wrote nothing: proves nothing
    with log.writing() as db:
        db.execute("SELECT COUNT(*) FROM jobs")
    assert log.unwritable is not None
    assert log.update(job.id, status="processing").status == "processing"  # no probe asked: the write itself tells
    assert log.unwritable is None
    log.close()


def test_a_probe_never_creates_a_log_that_was_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "WRITE_PROBE_SECONDS", 0.0)
    log = TaskLog(tmp_path / "tasklog.sqlite3")
    assert log.path is not None
    job = add(log, "before")
    with read_only_disk(log.path), pytest.raises(StorageError):
        log.update(job.id, status="processing")
    shutil.move(log.path, tmp_path / "aside.sqlite3")
    assert not log.check_writable() and not log.path.exists()
    log.close()


# -- the pages ----------------------------------------------------------------------------------------------------


def test_a_read_only_disk_turns_pages_to_a_notice_with_generate_off_and_a_result_is_recorded_once_it_is_writable(
    app_sandbox: Sandbox,
) -> None:
    # The task runs until this test finishes it, so it surely finishes while the disk is read-only.
    app_sandbox.state.timing = Timing(image_queued=0.1, image_processing=3600)
    prompt = "a lighthouse on a read-only disk"
    at = open_page("pages/image.py")
    at.text_area(key=f"{IMAGE}:prompt").input(prompt).run()
    generate(at).click().run()
    log = get_studio().log
    (job,) = log.where("prompt = ?", (prompt,))
    assert job.task_id and len(creates(app_sandbox)) == 1
    late = open_page("pages/image.py")  # another tab, drawn while the log could be written
    late.text_area(key=f"{IMAGE}:prompt").input("a lighthouse pressed on a read-only disk").run()
    assert log.path is not None

    with read_only_disk(log.path):
        with app_sandbox.state.lock:
            app_sandbox.state.tasks[job.task_id].processing_for = 0  # Rivya finishes (and charges) the job now
        # The follower sees it succeed and cannot write that down: the open page says so by itself (its fragments).
        wait_for(at, read_only_page, timeout=60)
        assert READ_ONLY_NOTICE in warnings(at) and "don't press Generate again" in READ_ONLY_NOTICE
        assert "tries again by itself" in READ_ONLY_NOTICE and "send nothing and charge nothing" in READ_ONLY_NOTICE
        assert generate(at).disabled
        assert [t.value for t in at.title] == ["Image"]
        assert app_sandbox.state.tasks[job.task_id].status == "succeeded"
        assert log.get(job.id).status != "succeeded"  # known at Rivya, not written down here yet

        generate(late).click().run()  # Generate was drawn before: the press sends nothing, and the page says why
        assert "Nothing was sent or charged" in errors(late) and read_only_page(late) and generate(late).disabled
        assert len(creates(app_sandbox)) == 1
        for page, title in TITLES.items():  # every page keeps its frame and says it once
            late.switch_page(page).run()
            assert read_only_page(late) and [t.value for t in late.title] == [title]

    # Writable again: the page comes back by itself, and the result is written down once.
    wait_for(at, lambda at: UNREACHABLE not in warnings(at) and READ_ONLY not in warnings(at) and not generate(at).disabled,
             timeout=60)
    wait_for(at, lambda at: (done := log.get(job.id)) is not None and done.status == "succeeded" and bool(done.media_paths),
             timeout=60)
    assert not at.exception, at.exception
    assert job.id in at.session_state[SESSION].model(IMAGE).followed
    assert len(log.where("prompt = ?", (prompt,))) == 1 and log.count() == 1  # the refused press left no row
    assert [e.status for e in creates(app_sandbox)] == [201]  # one create, never sent again
    assert app_sandbox.balance() == 1000 - MODELS[IMAGE].base_credits
    late.switch_page("pages/image.py").run()
    assert not late.exception and READ_ONLY not in warnings(late) and not generate(late).disabled


def test_a_press_that_is_the_first_write_to_meet_a_read_only_disk_says_nothing_was_sent_and_turns_generate_off(
    app_sandbox: Sandbox,
) -> None:
    """No job in flight, so nothing else wrote: the press itself finds out, and the same run turns the page over."""
    at = open_page("pages/image.py")
    at.text_area(key=f"{IMAGE}:prompt").input("a lighthouse that finds the disk read-only").run()
    log = get_studio().log
    assert log.path is not None and log.unwritable is None
    with read_only_disk(log.path):
        generate(at).click().run()
        assert "Nothing was sent or charged" in errors(at)
        assert read_only_page(at) and generate(at).disabled
        assert not creates(app_sandbox) and log.count() == 0
    wait_for(at, lambda at: READ_ONLY not in warnings(at) and not generate(at).disabled, timeout=60)
    assert not at.exception, at.exception
