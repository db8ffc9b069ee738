"""The History & credits page and the ledger behind it, on a seeded log (on each engine: the app's SQLite file, or a
PostgreSQL database named by DATABASE_URL) and a live sandbox."""

from __future__ import annotations

import base64
import io
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.testing.v1 import AppTest

from rivya import InsufficientCreditsError, RivyaClient, ledger
from rivya.jobs import JobService
from rivya.sandbox import Sandbox
from rivya.status import status_word
from rivya.tasklog import TaskLog
from rivya.thumbnails import CARD, thumbnail

from .conftest import FAST_POLLS, FAST_TIMING, figure_text, figures, image_bytes, open_page


def today_noon() -> datetime:
    """Noon of the current UTC day, read when a test seeds or filters (not at import: a run may cross midnight)."""
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


# (model, status, days ago, reserved, final, seconds to finish, prompt)
SEED = [
    ("grok-imagine", "succeeded", 0, 4, 4, 8, "a red fox at dawn"),
    ("grok-imagine-video", "failed", 0, 10, 0, 30, "waves #fail"),
    ("grok-imagine-video", "succeeded", 3, 10, 10, 20, "a fox running through snow"),
    ("grok-imagine", "succeeded", 10, 4, 4, 12, "an old lighthouse"),
    ("grok-imagine", "rejected", 0, None, None, 0, "too poor"),
    ("grok-imagine", "queued", 0, 4, 0, None, "still cooking"),
]


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def seed(log: TaskLog) -> None:
    noon = today_noon()
    for n, (model, status, days, reserved, final, secs, prompt) in enumerate(SEED):
        submitted = noon - timedelta(days=days, minutes=n)
        job = log.add(
            idempotency_key=f"seed-{n}", backend="seeded", model=model,
            category="video" if "video" in model else "image", prompt=prompt, params={"aspect_ratio": "1:1"},
            submitted_at=iso(submitted),
        )
        fields = {"status": status, "reserved_credits": reserved, "final_credits": final, "task_id": f"task_{n}"}
        if secs is not None and status != "queued":
            fields["finished_at"] = iso(submitted + timedelta(seconds=secs))
        log.update(job.id, **fields)


# For page tests about layout and widgets, not the log's numbers: the SQLite run is enough.
SQLITE_ONLY = pytest.mark.parametrize("log_location", ["sqlite"], indirect=True)


def app_log(log_location: Path | str, data: Path, monkeypatch: pytest.MonkeyPatch) -> TaskLog:
    """The log the app (as AppTest runs it) opens: its data folder's SQLite file, or the database DATABASE_URL names."""
    if isinstance(log_location, str):
        monkeypatch.setenv("DATABASE_URL", log_location)
        return TaskLog(log_location)
    return TaskLog(data / "tasklog.sqlite3")


@pytest.fixture
def seeded(point_app, log_location: Path | str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(timing=FAST_TIMING) as sandbox:
        log = app_log(log_location, point_app(sandbox.url, sandbox.api_key), monkeypatch)
        seed(log)
        log.close()
        yield sandbox


MANAGERS: list = []


@pytest.fixture(autouse=True)
def keep_media_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest drops its media manager after each run; keep a handle to read downloads."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.testing.v1 import app_test

    class Kept(MediaFileManager):
        def __init__(self, storage) -> None:
            super().__init__(storage)
            MANAGERS.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Kept)


def download_bytes(at: AppTest, key: str) -> bytes:
    """The exact bytes the browser would get when clicking a (deferred) download button."""
    button = next(b for b in at.get("download_button") if b.proto.id.endswith(key))
    manager = MANAGERS[-1]
    url = manager.execute_deferred(button.proto.deferred_file_id) if button.proto.deferred_file_id else button.proto.url
    return manager._storage.get_file(url.rsplit("/", 1)[-1]).content


def test_figures_from_the_seeded_log(seeded: Sandbox) -> None:
    at = open_page("pages/history.py")
    metrics = figures(at)
    assert metrics["Credit balance"] == "1,000"
    assert metrics["Spent today"] == "8"  # 4 done + 4 still reserved
    assert metrics["Spent, last 7 days"] == "18"
    assert metrics["Spent, all time"] == "22"
    assert metrics["Returned on failures"] == "10"
    assert metrics["Success rate"] == "75%"
    captions = figure_text(at)
    assert "Days run midnight to midnight, UTC." in captions  # one calendar, named once beside the figures
    assert "Done: 3" in captions and "Failed: 1" in captions and "Not started: 1" in captions
    assert "Grok Imagine: 10 s" in captions and "Grok Imagine Video: 20 s" in captions


# Streamlit's front end loads and runs its emoji plugin for a markdown text with a shortcode-like ":word:"
# (its StreamlitMarkdown's test, Streamlit 1.67): a chunk download and a second render on every visit.
EMOJI_CODE = re.compile(r":(?!material/|streamlit:)[\w+-][\w_+-]*:")


def test_no_text_on_history_makes_the_browser_load_its_emoji_plugin(seeded: Sandbox) -> None:
    at = open_page("pages/history.py")
    assert re.search(r"^Read from Rivya at \d\d:\d\d:\d\d", figure_text(at), re.M)  # the balance's clock: HTML,
    texts = [m.value for m in (*at.caption, *at.markdown)]  # which the Markdown renderer never sees
    assert texts and not [t for t in texts if EMOJI_CODE.search(t)]


@SQLITE_ONLY
def test_pages_are_one_press_away_and_a_new_filter_starts_at_the_first(seeded: Sandbox,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ui.history.PAGE_SIZE", 2)  # the seeded six jobs on three pages
    at = open_page("pages/history.py")

    def count() -> str:
        return next(c.value for c in at.caption if "jobs, newest first" in c.value)

    assert count() == "6 of 6 jobs, newest first · page 1 of 3" and len(at.dataframe[0].value) == 2
    newest = list(at.dataframe[0].value["prompt"])
    at.number_input(key="history:page").set_value(3).run()  # under "Go to page"
    assert count() == "6 of 6 jobs, newest first · page 3 of 3"
    oldest = list(at.dataframe[0].value["prompt"])
    assert len(oldest) == 2 and not set(oldest) & set(newest)
    at.multiselect(key="history:models").set_value(["grok-imagine"]).run()  # another filter: its first page
    assert at.number_input(key="history:page").value == 1 and count() == "4 of 6 jobs, newest first · page 1 of 2"
    at.text_input(key="history:text").input("fox").run()  # one page: no page box, no page in the caption
    assert count().startswith("1 of 6 jobs, newest first") and "page" not in count()
    assert not at.number_input and not at.exception


def test_filters_and_exact_csv(seeded: Sandbox) -> None:
    at = open_page("pages/history.py")
    assert any("6 of 6 jobs" in c.value for c in at.caption)
    at.multiselect(key="history:models").set_value(["grok-imagine-video"]).run()
    assert any("2 of 6 jobs" in c.value for c in at.caption)
    at.text_input(key="history:text").input("FOX").run()
    assert any("1 of 6 jobs" in c.value for c in at.caption)
    csv = pd.read_csv(io.BytesIO(download_bytes(at, "history:csv")))
    assert list(csv["prompt"]) == ["a fox running through snow"]
    assert list(csv.columns) == ledger.CSV_COLUMNS
    assert csv.loc[0, "charged_credits"] == 10 and csv.loc[0, "seconds_to_result"] == 20
    at.multiselect(key="history:models").set_value([]).run()
    at.text_input(key="history:text").input("").run()
    at.multiselect(key="history:statuses").set_value(["succeeded"]).run()
    noon = today_noon()
    at.date_input(key="history:dates").set_value(((noon - timedelta(days=3)).date(), noon.date())).run()
    csv = pd.read_csv(io.BytesIO(download_bytes(at, "history:csv")))
    assert sorted(csv["prompt"]) == ["a fox running through snow", "a red fox at dawn"]
    assert csv["submitted_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z").all()


def test_running_jobs_are_announced(seeded: Sandbox) -> None:
    at = open_page("pages/history.py")
    assert any("1 job(s) still running" in i.value for i in at.info)
    at.button(key="history:recheck").click().run()
    assert [t.value for t in at.toast] == ["Checking every running job now."] and not at.exception
    at.run()
    assert not at.toast  # said once


def test_empty_log_says_so(point_app) -> None:
    with Sandbox() as sandbox:
        point_app(sandbox.url, sandbox.api_key)
        at = open_page("pages/history.py")
        assert any("No jobs yet" in c.value for c in at.caption)


def test_mixed_workload_ledger_adds_up(tmp_path: Path, log_location: Path | str) -> None:
    """Successes, refunds, refusals, replays and a lost reply: the log matches the wallet."""
    with Sandbox(timing=FAST_TIMING) as sandbox:
        client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS, max_retries=0)
        jobs = JobService(client, TaskLog(log_location), tmp_path / "media", backend="sandbox")
        sandbox.set_credits(3)  # a drained wallet refuses the first job, which costs nothing
        with pytest.raises(InsufficientCreditsError):
            jobs.submit("grok-imagine", "too expensive", {}, idempotency_key="e")
        sandbox.set_credits(60)
        start = sandbox.state.balance()
        jobs.submit("grok-imagine", "ok 1", {}, idempotency_key="a")
        jobs.submit("grok-imagine-video", "ok 2", {"duration": 8}, idempotency_key="b")
        jobs.submit("grok-imagine-video", "bad #fail", {}, idempotency_key="c")
        jobs.submit("grok-imagine", "ok 1", {}, idempotency_key="a")  # replay
        sandbox.lose_next_creates(1)
        jobs.submit("grok-imagine", "lost reply", {}, idempotency_key="d")
        deadline = time.monotonic() + 20
        while jobs.log.pending("sandbox") and time.monotonic() < deadline:
            jobs.follow_once()
            time.sleep(0.05)
        figures = ledger.LedgerView(jobs.log).figures()
        assert figures.spent_all_time == start - sandbox.state.balance() == 4 + 10 + 4
        logged = [r[0] for r in jobs.log.read("SELECT task_id FROM jobs WHERE task_id IS NOT NULL")]
        assert sorted(logged) == sorted(sandbox.state.tasks) and len(set(logged)) == len(logged)
        assert set(figures.jobs_by_status) == {"succeeded", "failed", "rejected"}
        assert figures.returned_on_failures == 10
        jobs.stop()
        jobs.log.close()


@SQLITE_ONLY
def test_charts_are_built_only_while_their_tab_is_open(seeded: Sandbox) -> None:
    at = open_page("pages/history.py")
    assert not at.get("vega_lite_chart")  # the Jobs tab is open: no chart is built
    at.session_state["history:tab"] = "Charts"
    at.run()
    assert len(at.get("vega_lite_chart")) == 3
    assert any("6 of 6 jobs" in c.value for c in at.caption)  # the jobs tab still runs (its filters keep their values)


def test_table_cells_carry_small_pictures(point_app) -> None:
    """Each rerun sends every cell again: a result's cell holds a 96 px picture, not the 160 px saved thumbnail."""
    with Sandbox() as sandbox:
        data = point_app(sandbox.url, sandbox.api_key)
        result = data / "media" / "result.png"
        result.parent.mkdir()
        result.write_bytes(image_bytes("PNG", (640, 400), "purple"))
        log = TaskLog(data / "tasklog.sqlite3")
        job = log.add(idempotency_key="pic", backend="seeded", model="grok-imagine", category="image", prompt="p", params={})
        log.update(job.id, status="succeeded", reserved_credits=4, final_credits=4, media_paths=[str(result)])
        at = open_page("pages/history.py")
        cell = at.dataframe[0].value["result"].iloc[0]
        assert cell.startswith("data:image/jpeg;base64,")
        picture = base64.b64decode(cell.split(",", 1)[1])
        assert max(Image.open(io.BytesIO(picture)).size) == 96
        assert len(picture) < thumbnail(result, CARD).stat().st_size


def test_a_cell_with_nothing_in_it_shows_a_dash_not_none(point_app) -> None:
    """A failed job has no time to result and no link: the table shows a dash there, not Streamlit's word "None"."""
    with Sandbox() as sandbox:
        data = point_app(sandbox.url, sandbox.api_key)
        log = TaskLog(data / "tasklog.sqlite3")
        job = log.add(idempotency_key="gone", backend="seeded", model="grok-imagine", category="image", prompt="p",
                      params={})
        log.update(job.id, status="failed", reserved_credits=4, final_credits=0)
        at = open_page("pages/history.py")
        (table,) = at.dataframe
        assert table.value[["seconds", "link"]].iloc[0].isna().all()  # the row really has empty cells
        assert table.proto.placeholder == "—"


def test_a_history_run_reads_the_logs_change_counter_at_most_twice(point_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counter (``TaskLog.signature``) is read once per page run and shared by its parts (the outage probe, the
    notices, the live parts, the ledger's figures), plus once for the table's snapshot; it was read about 15 times."""
    with Sandbox() as sandbox:
        data = point_app(sandbox.url, sandbox.api_key)
        log = TaskLog(data / "tasklog.sqlite3")
        noon = today_noon()
        for n in range(300):
            job = log.add(idempotency_key=f"many-{n}", backend="seeded", model="grok-imagine", category="image",
                          prompt=f"fox {n}", params={}, submitted_at=iso(noon - timedelta(minutes=n)))
            log.update(job.id, status="succeeded", reserved_credits=4, final_credits=4, task_id=f"task_{n}",
                       finished_at=iso(noon - timedelta(minutes=n) + timedelta(seconds=8)))
        log.close()
        at = open_page("pages/history.py")
        reads: list[str] = []
        query = TaskLog._query

        def counting(self: TaskLog, sql: str, args: object = ()) -> object:
            if "FROM log_changes" in sql and get_script_run_ctx(suppress_warning=True) is not None:
                reads.append(sql)  # the page's own reads (not the follower's or the feed's threads)
            return query(self, sql, args)

        monkeypatch.setattr(TaskLog, "_query", counting)
        for _ in range(2):
            reads.clear()
            at.run()
            assert not at.exception and any("300 of 300 jobs" in c.value for c in at.caption)
            assert 1 <= len(reads) <= 2, len(reads)


def test_the_tables_stamp_is_of_the_rows_shown_when_a_change_lands_while_they_are_read(
        point_app, log_location: Path | str, monkeypatch: pytest.MonkeyPatch) -> None:
    """History's live look compares the rows shown with a stamp of them: one taken after a change that landed while
    the table was read would match the log and hide the change, so both are read on one snapshot of the log."""
    with Sandbox() as sandbox:
        log = app_log(log_location, point_app(sandbox.url, sandbox.api_key), monkeypatch)
        job = log.add(idempotency_key="mid", backend="seeded", model="grok-imagine", category="image", prompt="p",
                      params={})
        log.update(job.id, status="processing", reserved_credits=4, task_id="task_mid")
        at = open_page("pages/history.py")
        page, landed = ledger.LedgerView.page, []

        def page_then_a_change(self: ledger.LedgerView, *args: object, **kwargs: object) -> pd.DataFrame:
            frame = page(self, *args, **kwargs)
            if not landed:  # another process's write (the follower's), between the table's read and its stamp
                writer = threading.Thread(target=lambda: landed.append(
                    log.update(job.id, status="succeeded", final_credits=4, finished_at=iso(datetime.now(UTC)))))
                writer.start()
                writer.join(30)
            return frame

        monkeypatch.setattr(ledger.LedgerView, "page", page_then_a_change)
        at.run()
        assert landed and not at.exception
        shown_status = at.dataframe[0].value["status"].iloc[0]
        assert shown_status == status_word("processing") != status_word("succeeded")  # read before the change
        shown = at.session_state["history:shown"]
        assert shown.ids == (job.id,) and shown.rows != ledger.LedgerView(log).rows_stamp(shown.ids)  # the next look redraws
        log.close()
