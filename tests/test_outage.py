"""The job log goes away: a real PostgreSQL server stopped mid-press, a SQLite file removed (AppTest, the real sandbox).

Every page keeps its title and navigation and says in plain words that the job log cannot be reached, Generate is
off, a press says "nothing was sent" or "don't press Generate again" from what it knows itself, and once the log is
back the page and the follower go on: the job finishes, sent once.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from rivya import RivyaClient
from rivya.catalog import MODELS
from rivya.errors import StorageError
from rivya.jobs import JobService
from rivya.messages import explain
from rivya.polling import RequestBudget
from rivya.sandbox import Sandbox
from rivya.tasklog import TaskLog
from ui.outage import NOTICE
from ui.services import get_studio
from ui.session import SESSION

from .conftest import APP, FAST_POLLS, creates, open_page, wait_for
from .postgres_server import PostgresServer

IMAGE = "grok-imagine"
PAGES = ("pages/image.py", "pages/video.py", "pages/gallery.py", "pages/history.py")
TITLES = {"pages/image.py": "Image", "pages/video.py": "Video", "pages/gallery.py": "Gallery",
          "pages/history.py": "History & credits"}
UNREACHABLE = "The job log cannot be reached right now."
# What the pages that only show the log's content say in its place while it cannot be read.
WAITING = {"pages/gallery.py": "Results show here again once the job log can be reached.",
           "pages/history.py": "Jobs and spending show here again once the job log can be reached."}


@pytest.fixture(scope="module")
def outage_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own: stopping the session's shared one would disturb other tests."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def outage_db(outage_server: PostgresServer, app_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
              tmp_path: Path) -> Iterator[PostgresServer]:
    """The app pointed at a fresh database on that server; the server runs again when the test ends."""
    outage_server.resume()
    monkeypatch.setenv("DATABASE_URL", outage_server.create_database())
    monkeypatch.setenv("MEDIA_DIR", str(tmp_path / "media"))
    try:
        yield outage_server
    finally:
        outage_server.resume()


def warnings(at: AppTest) -> str:
    return " | ".join(w.value for w in at.warning)


def errors(at: AppTest) -> str:
    return " | ".join(e.value for e in at.error)


def generate(at: AppTest) -> Button:
    return at.button(key=f"{IMAGE}:generate")


def assert_outage_page(at: AppTest, title: str) -> None:
    """The frame (the page's title, the sidebar's controls), the plain notice once, no traceback."""
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == [title]
    assert warnings(at).count(UNREACHABLE) == 1 and NOTICE in warnings(at)
    assert "tries again by itself" in NOTICE and "don't press Generate again" in NOTICE
    assert any(t.label.startswith("Sound and notification") for t in at.sidebar.toggle)  # the sidebar is drawn


def test_a_press_whose_create_went_out_as_postgresql_stopped_says_dont_press_again_and_finishes_once(
    outage_db: PostgresServer, app_sandbox: Sandbox
) -> None:
    prompt = "a lighthouse while the database sleeps"
    at = open_page("pages/image.py")
    at.text_area(key=f"{IMAGE}:prompt").input(prompt).run()
    follower = get_studio().jobs

    # The service makes (and charges) the task, and before its reply reaches the app the database stops.
    answer = app_sandbox.hold_for_create

    def stop_the_database() -> float | None:
        app_sandbox.hold_for_create = answer  # only this create
        outage_db.halt()
        return answer()

    app_sandbox.hold_for_create = stop_the_database  # type: ignore[method-assign]
    generate(at).click().run()
    assert len(creates(app_sandbox)) == 1
    assert "Don't press Generate again" in warnings(at) + errors(at)  # decided by the press, not by reading the log
    assert "Nothing was sent" not in warnings(at) + errors(at)
    assert_outage_page(at, "Image")
    assert generate(at).disabled
    at.run()  # the page's own poll would rerun it; still down, still plain words
    assert_outage_page(at, "Image")
    assert generate(at).disabled

    outage_db.resume()
    wait_for(at, lambda at: UNREACHABLE not in warnings(at) and not generate(at).disabled, timeout=60)
    assert not at.exception, at.exception
    log = get_studio().log
    (job,) = log.where("prompt = ?", (prompt,))
    wait_for(at, lambda at: (done := log.get(job.id)) is not None and done.status == "succeeded", timeout=60)
    assert job.id in at.session_state[SESSION].model(IMAGE).followed  # the press's card shows again, found by its key
    # Once: one task at the service (the follower's re-send with the same key is a replay), one row, charged once,
    # and the follower thread lived through the outage.
    done = log.get(job.id)
    assert done is not None and {e.task_id for e in creates(app_sandbox)} == {done.task_id}
    assert [e.status for e in creates(app_sandbox)].count(201) == 1 and len(log.where("prompt = ?", (prompt,))) == 1
    assert app_sandbox.balance() == 1000 - MODELS[IMAGE].base_credits
    assert follower.running
    assert not at.exception, at.exception


def test_a_press_while_postgresql_is_stopped_says_nothing_was_sent(outage_db: PostgresServer,
                                                                    app_sandbox: Sandbox) -> None:
    """The page was drawn before the outage, so Generate could still be pressed: nothing is sent, and it says so."""
    at = open_page("pages/image.py")
    at.text_area(key=f"{IMAGE}:prompt").input("a lighthouse pressed too late").run()
    outage_db.halt()
    generate(at).click().run()
    assert "Nothing was sent or charged" in errors(at)
    assert_outage_page(at, "Image")
    assert generate(at).disabled and not creates(app_sandbox)


def test_every_page_and_every_new_tab_keeps_its_frame_while_postgresql_is_stopped(outage_db: PostgresServer) -> None:
    """The notices watcher runs on every page and starts a watch per tab: during an outage it takes no page down."""
    open_page("pages/image.py")  # the app and its log exist, then the database stops
    outage_db.halt()
    for page in PAGES:
        at = AppTest.from_file(APP, default_timeout=60)  # a new tab
        at.run()
        assert_outage_page(at, "Imagine Studio")
        at.switch_page(page).run()
        assert_outage_page(at, TITLES[page])
    outage_db.resume()
    at.run()
    assert not at.exception and UNREACHABLE not in warnings(at)


def test_a_removed_sqlite_file_is_an_outage_not_a_new_empty_log(app_sandbox: Sandbox, tmp_path: Path) -> None:
    at = open_page("pages/image.py")
    at.text_area(key=f"{IMAGE}:prompt").input("a lighthouse without its log").run()
    path = get_studio().log.db.path
    assert path is not None and path.exists()
    aside = tmp_path / "aside.sqlite3"
    shutil.move(path, aside)
    generate(at).click().run()  # the button was drawn before the file went
    assert "Nothing was sent or charged" in errors(at)
    assert_outage_page(at, "Image")
    assert generate(at).disabled and not creates(app_sandbox)
    assert not path.exists()  # no new empty log, where the spend guards would find nothing spent
    for page in PAGES:
        at.switch_page(page).run()
        assert_outage_page(at, TITLES[page])
        if page in WAITING:  # one line where the page's content was, not half a page drawn (a lone search box)
            assert WAITING[page] in [c.value for c in at.caption] and not at.main.text_input and not at.main.dataframe
    shutil.move(aside, path)
    at.switch_page("pages/image.py").run()
    assert not at.exception and UNREACHABLE not in warnings(at) and not generate(at).disabled


def test_a_commit_whose_reply_was_lost_as_the_log_went_away_is_may_have_been_sent(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    """The rows were committed, the reply was lost, and the log cannot be read back: the press must not be told
    "nothing was sent" (the follower sends those rows once the log is back), and the job is sent once."""
    jobs = JobService(RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS), TaskLog(log_location),
                      tmp_path / "media", backend="sandbox", budget=RequestBudget(rate=200, burst=100))
    real_writing, real_by_key = jobs.log.writing, jobs.log.by_key
    gone = StorageError("the job log could not be reached (connection refused)")

    @contextmanager
    def commit_then_go_away() -> Iterator[object]:
        with real_writing() as db:
            yield db
        jobs.log.by_key = lambda key: (_ for _ in ()).throw(gone)  # type: ignore[method-assign]
        raise StorageError("the job log could not be written (server closed the connection unexpectedly)")

    jobs.log.writing = commit_then_go_away  # type: ignore[method-assign]
    try:
        with pytest.raises(StorageError) as raised:
            jobs.submit_batch("grok-imagine", "a reply lost as the log went away", {}, keys=["gone-reply"])
        assert raised.value.after_send and "Don't press Generate again" in explain(raised.value).action
        assert not creates(sandbox)
        jobs.log.writing, jobs.log.by_key = real_writing, real_by_key  # type: ignore[method-assign]
        deadline = time.monotonic() + 30
        while (job := jobs.log.by_key("gone-reply")) is not None and job.status == "submitting":
            assert time.monotonic() < deadline, "the follower never sent the logged row"
            jobs.follow_once()
            time.sleep(0.2)
        assert job is not None and job.task_id and len(creates(sandbox)) == 1
    finally:
        jobs.stop()


def test_the_follower_saves_unsaved_results_when_the_log_was_unreachable_at_its_first_pass(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """After a restart the first pass looks for results nobody saved; if the log was unreachable then, a later pass
    looks again instead of never."""
    where = tmp_path / "tasklog.sqlite3"
    first = JobService(RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS), TaskLog(where),
                       tmp_path / "media", backend="sandbox", budget=RequestBudget(rate=200, burst=100))
    (job,) = first.submit_batch("grok-imagine", "a result left unsaved", {}, keys=["unsaved"])
    deadline = time.monotonic() + 30
    while (done := first.log.get(job.id)) is not None and not (done.is_done and done.media_paths):
        assert time.monotonic() < deadline, "the job never finished"
        first.follow_once()
        time.sleep(0.2)
    first.stop()
    first.log.update(job.id, media_paths=[])  # as if the process had died before saving its result

    second = JobService(RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS), TaskLog(where),
                        tmp_path / "media", backend="sandbox", budget=RequestBudget(rate=200, burst=100))
    aside = tmp_path / "aside.sqlite3"
    try:
        shutil.move(where, aside)
        with pytest.raises(StorageError):
            second.follow_once()
        shutil.move(aside, where)
        second.follow_once()
        saved = second.log.get(job.id)
        assert saved is not None and saved.media_paths
    finally:
        second.stop()
