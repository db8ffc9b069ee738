"""Safe to share: the key stays secret, access and spend are guarded, inputs cannot break it."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from rivya import InvalidInputError, RivyaClient, RivyaError, SpendLimitError
from rivya.access import PasswordGate
from rivya.catalog import ReferenceRule
from rivya.config import load_settings
from rivya.jobs import JobService
from rivya.media import download_media, inspect_image
from rivya.sandbox import Sandbox
from rivya.tasklog import SHARED_OWNER, TaskLog

from .conftest import FAST_POLLS, FAST_TIMING, image_bytes
from .test_jobs import follow

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SHARED_KEY = "rvya_sk_shared_team_key_7d41c0"
PERSONAL_KEY = "rvya_sk_personal_key_93be55"


@pytest.fixture
def app_env(point_app) -> Iterator[Sandbox]:
    with Sandbox(timing=FAST_TIMING, api_key=SHARED_KEY) as sandbox:
        sandbox.add_key(PERSONAL_KEY)
        point_app(sandbox.url, SHARED_KEY)
        yield sandbox


def shown_text(at: AppTest) -> str:
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "metric", "text", "code", "title")
    return " ".join(str(e.value) for kind in kinds for e in at.get(kind))


# -- the key ---------------------------------------------------------------------------------


def test_settings_prefer_secrets_and_hide_the_key() -> None:
    settings = load_settings({"RIVYA_API_KEY": SHARED_KEY, "DAILY_CREDIT_BUDGET": "50"}, {"RIVYA_API_KEY": "env"})
    assert settings.api_key == SHARED_KEY and settings.daily_budget == 50
    assert SHARED_KEY not in repr(settings)
    with pytest.raises(ValueError, match="whole number"):
        load_settings({"DAILY_CREDIT_BUDGET": "lots"}, {})


def test_a_bad_setting_is_a_message_not_a_crash(app_env: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAILY_CREDIT_BUDGET", "lots")
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception and "DAILY\\_CREDIT\\_BUDGET must be a whole number" in at.error[0].value
    monkeypatch.setenv("DAILY_CREDIT_BUDGET", "100")  # so the fixture can close the app's backend


def test_keys_never_reach_the_task_log_or_the_data_dir(app_env: Sandbox, tmp_path: Path) -> None:
    client = RivyaClient(SHARED_KEY, app_env.url, poll_schedule=FAST_POLLS)
    jobs = JobService(client, TaskLog(tmp_path / "keys.sqlite3"), tmp_path / "media", backend="sandbox")
    owner = jobs.register_key(PERSONAL_KEY)
    assert PERSONAL_KEY not in owner
    shared = jobs.submit("grok-imagine", "shared", {}, idempotency_key="s")
    personal = jobs.submit("grok-imagine", "personal", {}, idempotency_key="p", owner=owner)
    assert follow(jobs, personal.id).key_owner == owner and follow(jobs, shared.id).key_owner == SHARED_OWNER
    jobs.log.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SHARED_KEY.encode() not in data and PERSONAL_KEY.encode() not in data, path


def test_personal_key_is_for_one_session_only(app_env: Sandbox) -> None:
    app_env.add_key(SHARED_KEY, status="revoked")  # the shared key stops working
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert "This API key has been revoked." in shown_text(at)
    at.text_input(key="key:input").input(PERSONAL_KEY)
    at.button(key="key:use").click().run()
    assert {m.label: m.value for m in at.metric}["Credit balance"] == "1,000"
    assert PERSONAL_KEY not in shown_text(at)
    assert all(PERSONAL_KEY not in repr(at.session_state[k]) for k in at.session_state)
    other = AppTest.from_file(APP, default_timeout=30)
    other.run()
    assert "This API key has been revoked." in shown_text(other)  # another session: still the shared key
    at.switch_page("pages/image.py").run()
    at.text_area(key="grok-imagine:prompt").input("made with my own key").run()
    at.button(key="grok-imagine:generate").click().run()
    assert len(app_env.state.tasks) == 1 and not at.exception
    at.button(key="key:forget").click().run()
    at.run()  # still on the Image page: its balance line uses the shared key again
    assert "This API key has been revoked." in shown_text(at)


def test_a_wrong_personal_key_is_refused_in_plain_words(app_env: Sandbox) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.text_input(key="key:input").input("rvya_sk_typo")
    at.button(key="key:use").click().run()
    assert "The API key was not accepted." in shown_text(at) and "rvya_sk_typo" not in shown_text(at)
    assert {m.label: m.value for m in at.metric}["Credit balance"] == "1,000"


def test_released_personal_key_is_dropped_after_its_jobs_finish(app_env: Sandbox, tmp_path: Path) -> None:
    client = RivyaClient(SHARED_KEY, app_env.url, poll_schedule=FAST_POLLS)
    jobs = JobService(client, TaskLog(tmp_path / "r.sqlite3"), tmp_path / "media", backend="sandbox")
    owner = jobs.register_key(PERSONAL_KEY)
    job = jobs.submit("grok-imagine", "still running", {}, idempotency_key="r", owner=owner)
    jobs.release_key(owner)
    assert jobs.client_for(owner)  # kept while its job runs
    assert follow(jobs, job.id).status == "succeeded"
    jobs.follow_once()
    with pytest.raises(KeyError):
        jobs.client_for(owner)


# -- access ----------------------------------------------------------------------------------


def test_password_gate_delays_grow() -> None:
    gate = PasswordGate("open sesame")
    assert "open sesame" not in repr(gate)
    assert gate.delay() == 0
    assert not gate.check("open", sleep=False)
    assert [gate.delay(), gate.check("x", sleep=False), gate.delay()] == [1.0, False, 2.0]
    for _ in range(10):
        gate.check("nope", sleep=False)
    assert gate.delay() == 30.0
    assert gate.check("open sesame", sleep=False)


def test_pages_render_nothing_until_the_password(app_env: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_PASSWORD", "correct horse")
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.metric and [t.value for t in at.title] == ["Imagine Studio"]
    assert not at.sidebar.get("page_link") and not at.get("text_area")
    at.text_input(key="access:password").input("wrong")
    at.button[0].click().run()
    assert "not right" in at.error[0].value and not at.metric
    at.text_input(key="access:password").input("correct horse")
    at.button[0].click().run()
    assert {m.label for m in at.metric} >= {"Credit balance"}
    at.switch_page("pages/image.py").run()
    assert at.get("text_area")  # the Image page's form is there now


# -- spend guard -----------------------------------------------------------------------------


def test_daily_budget_refuses_before_any_request(app_env: Sandbox, tmp_path: Path) -> None:
    client = RivyaClient(SHARED_KEY, app_env.url, poll_schedule=FAST_POLLS)
    jobs = JobService(client, TaskLog(tmp_path / "b.sqlite3"), tmp_path / "media", backend="sandbox")
    jobs.submit("grok-imagine-video", "one", {}, idempotency_key="1", daily_budget=14)
    jobs.submit("grok-imagine", "two", {}, idempotency_key="2", daily_budget=14)
    sent = len(app_env.journal)
    with pytest.raises(SpendLimitError) as info:
        jobs.submit("grok-imagine", "three", {}, idempotency_key="3", daily_budget=14)
    assert (info.value.used, info.value.cost) == (14, 4)
    assert len(app_env.journal) == sent and jobs.log.by_key("3") is None
    # A replay of a job already made is not a new spend.
    assert jobs.submit("grok-imagine", "two", {}, idempotency_key="2", daily_budget=14).status != "rejected"


def test_budget_holds_under_concurrent_submits(app_env: Sandbox, tmp_path: Path) -> None:
    client = RivyaClient(SHARED_KEY, app_env.url, poll_schedule=FAST_POLLS)
    jobs = JobService(client, TaskLog(tmp_path / "c.sqlite3"), tmp_path / "media", backend="sandbox")
    refused: list[int] = []

    def submit(n: int) -> None:
        try:
            jobs.submit("grok-imagine", f"race {n}", {}, idempotency_key=f"race-{n}", daily_budget=40)
        except SpendLimitError:
            refused.append(n)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(submit, range(16)))
    assert len(app_env.state.tasks) == 10 and len(refused) == 6
    assert app_env.state.balance() == 1000 - 40


def test_budget_message_on_the_page_and_history(app_env: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAILY_CREDIT_BUDGET", "3")
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/image.py").run()
    assert "Team budget today: 0 of 3 credits used" in shown_text(at)
    at.text_area(key="grok-imagine:prompt").input("over budget").run()
    at.button(key="grok-imagine:generate").click().run()
    assert "today's team budget of 3 credits" in at.error[0].value and app_env.state.tasks == {}
    at.switch_page("pages/history.py").run()
    assert {m.label: m.value for m in at.metric}.get("Team budget used today") in (None, "0 / 3")


# -- hardened inputs -------------------------------------------------------------------------


def png_header_claiming(width: int, height: int) -> bytes:
    image = Image.new("1", (width, height))
    import io

    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty (0 bytes)"),
        (image_bytes("PNG", (300, 300))[:200], "damaged or cut short"),
        (image_bytes("GIF"), "is a GIF"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "is an SVG"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "is a HEIC photo"),
        (png_header_claiming(12000, 12000), "far too many pixels"),
        (png_header_claiming(8000, 8000), "the limit is 50 megapixels"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (10 * 1024 * 1024), "at most 10 MB"),
    ],
)
def test_bad_uploads_are_refused_by_content(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        inspect_image(data, ReferenceRule(), name="photo.png")
    assert message in str(info.value) and "photo.png" in str(info.value)


def test_result_fetching_is_bounded(app_env: Sandbox, tmp_path: Path) -> None:
    client = RivyaClient(SHARED_KEY, app_env.url)
    uploaded = client.upload_file(image_bytes("PNG", (400, 400), "red"), model="grok-imagine")
    with pytest.raises(RivyaError, match="not http"):
        download_media(client.session, "file:///etc/passwd", tmp_path / "x", expected="image")
    with pytest.raises(RivyaError, match="expected video"):
        download_media(client.session, uploaded.url, tmp_path / "v", expected="video")
    with pytest.raises(RivyaError, match="larger than"):
        download_media(client.session, uploaded.url, tmp_path / "big", expected="image", max_bytes=100)
    assert not list(tmp_path.glob("big*")) and not list(tmp_path.glob("v*"))
    saved = download_media(client.session, uploaded.url, tmp_path / "ok", expected="image")
    assert saved.name == "ok.png" and Image.open(saved).size == (400, 400)


def test_prompts_and_messages_are_shown_as_text(app_env: Sandbox) -> None:
    from ui.text import md_escape

    nasty = "**bold** <img src=x onerror=alert(1)> [click](http://evil.example) :red[red] $x^2$ #fail"
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/image.py").run()
    at.text_area(key="grok-imagine:prompt").input(nasty).run()
    at.button(key="grok-imagine:generate").click().run()
    import time

    deadline = time.monotonic() + 15
    while not at.error and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert nasty in [t.value for t in at.get("text")]  # the prompt, verbatim, as plain text
    escaped = md_escape(nasty)
    assert "\\*\\*bold\\*\\*" in escaped and "\\<img" in escaped and "\\[click\\]" in escaped and "\\$x" in escaped
    assert not at.exception
