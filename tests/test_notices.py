"""Told when a job finishes: the watcher's rules on a real task log (both engines: a SQLite file, a PostgreSQL
database), and the app's toast, sign-in prompt and fail-closed provider check in AppTest (signing in through a
provider needs a browser: tests/test_signin.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rivya.people import person_id
from rivya.sandbox import Sandbox
from rivya.tasklog import TaskLog
from ui.large_view import link_to
from ui.notices import Finished, Watch, shows, title, to_tell, toast_text
from ui.session import SESSION

from .browser_support import free_port
from .conftest import APP, ROOT, figures
from .test_tasklog import explain, statements


@pytest.fixture
def log(log_location: Path | str) -> Iterator[TaskLog]:
    """A fresh log on each engine, closed afterwards."""
    task_log = TaskLog(log_location)
    yield task_log
    task_log.close()


def add(log: TaskLog, key: str, *, session: str = "s1", person: str | None = None, category: str = "image",
        batch: str | None = None) -> int:
    return log.add(idempotency_key=key, backend="sandbox", model="grok-imagine", category=category, prompt=f"prompt {key}",
                   params={}, session_id=session, person=person, batch_id=batch).id


def end(log: TaskLog, job_id: int, status: str = "succeeded") -> None:
    log.update(job_id, status=status)


def test_only_the_viewers_jobs_that_end_after_the_watch_began_are_news(log: TaskLog) -> None:
    done_before = add(log, "old")
    end(log, done_before)
    running = add(log, "running")
    add(log, "someone else's", session="s2")
    watch = Watch.start(log, "session_id", "s1")
    assert watch.check(log) == [] and watch.pending == {running}
    end(log, running)
    later = add(log, "later", category="video")
    other = add(log, "other", session="s2")
    end(log, other)
    assert [f.id for f in watch.check(log)] == [running]
    assert watch.pending == {later}
    end(log, later, "failed")
    fast = add(log, "fast")  # submitted and ended between two looks
    end(log, fast)
    assert watch.check(log) == [
        Finished(later, "video", "failed", "prompt later"), Finished(fast, "image", "succeeded", "prompt fast"),
    ]
    end(log, add(log, "after", session="s2"))
    assert watch.check(log) == []  # each job is news once, and others' jobs never


def test_a_signed_in_person_is_told_about_their_jobs_from_any_session(log: TaskLog) -> None:
    watch = Watch.start(log, "person", "ada@example.com")
    mine = add(log, "mine", session="tab-2", person="ada@example.com")
    add(log, "anon", session="tab-2")
    end(log, mine)
    assert [f.id for f in watch.check(log)] == [mine]


def test_a_look_that_finds_nothing_new_reads_only_the_change_counter(log: TaskLog) -> None:
    watch = Watch.start(log, "person", "ada@example.com")
    for n in range(50):  # many jobs of this person, long finished
        end(log, add(log, f"past-{n}", person="ada@example.com"))
    watch.check(log)
    ran = statements(log, lambda: watch.check(log))
    assert [sql for sql, _ in ran] == ["SELECT rows, (SELECT COALESCE(MAX(id), 0) FROM jobs), changes FROM log_changes"]
    end(log, add(log, "new", person="ada@example.com"))
    found: list = []
    ((_, _), (query, args)) = statements(log, lambda: found.extend(watch.check(log)))  # the counter, then the rows
    assert len(found) == 1
    if log.dialect.is_sqlite:  # SQLite is told to keep off the person index; PostgreSQL plans from its statistics
        plan = explain(log, query, args)
        assert "INTEGER PRIMARY KEY" in plan and "jobs_person" not in plan and "SCAN jobs" not in plan, plan


def test_the_seen_rule_and_the_title() -> None:
    watch = Watch("session_id", "s1", (0, 0, 0), 0)
    finished = [Finished(1, "image", "succeeded", "a"), Finished(2, "video", "succeeded", "b"),
                Finished(3, "image", "failed", "c")]
    watch.record(finished, page="image")  # the Image page shows the image at once; failures are no results
    assert watch.unseen == {2: "video"} and title(len(watch.unseen)) == "(1) Imagine Studio"
    watch.record([Finished(4, "image", "succeeded", "d")], page="history")
    watch.seen("history", link=4)  # its large view
    assert watch.unseen == {2: "video"}
    watch.seen("image")
    assert watch.unseen == {2: "video"}
    watch.seen("gallery")
    assert watch.unseen == {} and title(0) == "Imagine Studio"
    assert shows("video", "video") and not shows("", "image")


def test_one_look_is_one_toast_a_batch_counted_and_others_added_as_a_count() -> None:
    one = [Finished(7, "image", "succeeded", "a fox")]
    assert toast_text(one) == f"Image is ready: “a fox” [Open it]({link_to(7)})"
    batch = [Finished(n, "image", "succeeded", "a fox", "b1") for n in (12, 10, 11)]
    assert toast_text(batch) == f"3 images are ready: “a fox” [Open it]({link_to(10)})"  # the link opens the first take
    mixed = [Finished(10, "video", "failed", "waves", "b2"), Finished(11, "video", "succeeded", "waves", "b2")]
    assert toast_text(mixed) == f"1 video is ready, 1 did not finish: “waves” [Open it]({link_to(11)})"
    assert toast_text([Finished(n, "video", "failed", "waves", "b3") for n in (1, 2)]).startswith("2 videos did not finish")
    unrelated = [Finished(3, "image", "succeeded", "old"), *batch, Finished(20, "video", "failed", "new")]
    assert toast_text(unrelated) == f"Video did not finish: “new” [Open it]({link_to(20)}) · 4 more jobs ended too"


def test_a_toast_tells_only_of_jobs_the_open_page_does_not_show() -> None:
    image, video = Finished(1, "image", "succeeded", "a"), Finished(2, "video", "succeeded", "b")
    failed_image = Finished(3, "image", "failed", "c")
    ended = [image, video, failed_image]
    assert to_tell("image", ended) == [video]  # the Image page's panel shows its jobs' ends, failures too
    assert to_tell("video", ended) == [image, failed_image]
    assert to_tell("gallery", ended) == [failed_image] and to_tell("", ended) == [failed_image]  # results only
    assert to_tell("history", ended) == ended  # rows, not results: the toast links each result


def test_explore_shows_the_cells_of_its_open_grid_and_only_those() -> None:
    cell, failed_cell = Finished(1, "image", "succeeded", "a", "g1", "g1"), Finished(2, "image", "failed", "b", "g1", "g1")
    other_grid, plain = Finished(3, "image", "succeeded", "c", "g2", "g2"), Finished(4, "video", "succeeded", "d")
    ended = [cell, failed_cell, other_grid, plain]
    assert to_tell("explore", ended, "g1") == [other_grid, plain]  # every cell of the open grid is its card there
    assert to_tell("explore", ended, None) == ended  # the list of grids shows no cell
    assert to_tell("history", ended, "g1") == ended  # a grid id only counts on Explore


def test_watching_by_anything_else_is_refused(log: TaskLog) -> None:
    with pytest.raises(ValueError):
        Watch.start(log, "prompt", "x")


# -- in the app ------------------------------------------------------------------------------


def test_a_job_of_this_tab_that_ends_brings_a_toast_with_its_link(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/history.py").run()
    assert not at.exception and not at.toast
    studio_log = get_studio().log
    job = add(studio_log, "toastme", session=at.session_state[SESSION].id)
    add(studio_log, "not-mine", session="another tab")
    end(studio_log, job)
    at.run()
    (toast,) = at.toast
    assert "Image is ready" in toast.value and "prompt toastme" in toast.value and f"?job={job}" in toast.value
    at.run()
    assert not at.toast  # told once


def test_a_job_that_ends_on_the_page_showing_it_brings_no_toast(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/image.py").run()
    studio_log = get_studio().log
    shown = add(studio_log, "on-screen", session=at.session_state[SESSION].id)
    elsewhere = add(studio_log, "a-video", session=at.session_state[SESSION].id, category="video")
    end(studio_log, shown)
    end(studio_log, elsewhere)
    at.run()
    assert any(f"#{shown}]" in m.value for m in at.markdown)  # its card, on this page
    (toast,) = at.toast  # only the video, which this page does not show
    assert "Video is ready" in toast.value and f"?job={elsewhere}" in toast.value and "ended too" not in toast.value


def test_cells_that_end_on_explore_showing_their_grid_bring_no_toast(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/explore.py")
    at.query_params["grid"] = "g1"
    at.run()
    assert not at.exception and not at.toast
    studio_log, me = get_studio().log, at.session_state[SESSION].id
    cells = [studio_log.add(idempotency_key=f"g1-{n}", backend="sandbox", model="grok-imagine", category="image",
                            prompt=f"cell {n}", params={}, session_id=me, grid_id="g1").id for n in range(2)]
    elsewhere = add(studio_log, "not-a-cell", session=me)
    for job_id in (*cells, elsewhere):
        end(studio_log, job_id)
    at.run()
    assert not at.exception
    (toast,) = at.toast  # only the job this page does not show
    assert f"?job={elsewhere}" in toast.value and "ended too" not in toast.value


def test_a_batch_that_ends_in_one_look_is_one_toast(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/history.py").run()
    studio_log = get_studio().log
    takes = [add(studio_log, f"take-{n}", session=at.session_state[SESSION].id, batch="batch-1") for n in (1, 2, 3)]
    for job in takes:
        end(studio_log, job)
    at.run()
    (toast,) = at.toast
    assert toast.value.startswith("3 images are ready") and f"?job={takes[0]})" in toast.value


def auth_section(metadata_url: str) -> dict[str, str]:
    return {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "test-cookie-secret-0123456789",
            "client_id": "studio", "client_secret": "secret", "server_metadata_url": metadata_url}


@pytest.mark.parametrize("script", [APP, str(ROOT / "pages/image.py"), str(ROOT / "pages/history.py")])
def test_with_sign_in_configured_a_page_shows_only_the_sign_in_prompt(app_sandbox: Sandbox, script: str) -> None:
    at = AppTest.from_file(script, default_timeout=30)
    at.secrets["auth"] = auth_section("http://127.0.0.1:9/.well-known/openid-configuration")
    at.secrets["ALLOWED_EMAIL_DOMAINS"] = ["example.com"]
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"] and [t.value for t in at.title] == ["Imagine Studio"]
    assert not figures(at) and not at.text_area and not at.toggle and not at.sidebar.get("page_link")


def test_a_provider_that_does_not_answer_gets_a_plain_message_never_the_page(app_sandbox: Sandbox) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = auth_section(f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration")  # nobody there
    at.secrets["ALLOWED_EMAIL_DOMAINS"] = ["example.com"]
    at.user = {"is_logged_in": False}
    at.run()
    at.button[0].click().run()
    assert not at.exception
    assert "sign-in service is not answering" in at.error[0].value
    assert [b.label for b in at.button] == ["Sign in"] and not figures(at) and not at.text_area


def test_a_signed_in_person_is_named_and_told_about_their_jobs_from_other_tabs(
    app_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ui.services import get_studio

    monkeypatch.setenv("ADMINS", "ada@example.com")
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = auth_section("http://127.0.0.1:9/.well-known/openid-configuration")
    at.secrets["ALLOWED_EMAIL_DOMAINS"] = ["example.com"]
    at.user = {"is_logged_in": True, "iss": "https://id.example", "email": "Ada@Example.com", "email_verified": True,
               "name": "Ada Lovelace", "sub": "a1"}
    at.run()
    assert not at.exception
    assert "Signed in as **Ada Lovelace** · admin" in [c.value for c in at.sidebar.caption]
    assert "Sign out" in [b.label for b in at.sidebar.button] and figures(at)
    studio_log = get_studio().log
    job = add(studio_log, "elsewhere", session="another tab", person=person_id("https://id.example", "a1"))
    end(studio_log, job, "failed")
    at.run()
    (toast,) = at.toast
    assert "Image did not finish" in toast.value and f"?job={job}" in toast.value


def test_a_sign_in_that_names_nobody_opens_nothing(app_sandbox: Sandbox) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = auth_section("http://127.0.0.1:9/.well-known/openid-configuration")
    at.secrets["ALLOWED_EMAIL_DOMAINS"] = ["example.com"]
    at.user = {"is_logged_in": True, "name": ""}  # the provider's token carried neither email nor subject
    at.run()
    assert not at.exception and "did not say who you are" in at.error[0].value
    assert [b.label for b in at.button] == ["Sign out"] and not figures(at) and not at.sidebar.get("page_link")
