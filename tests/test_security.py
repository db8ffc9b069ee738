"""Safe to share: the key stays secret, access and spend are guarded, inputs cannot break it."""

from __future__ import annotations

import inspect
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import streamlit as st
from PIL import Image
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest

from rivya import InvalidInputError, RivyaClient, RivyaError, SpendLimitError
from rivya.access import PasswordGate
from rivya.catalog import ReferenceRule
from rivya.config import Settings, load_settings
from rivya.constants import SIGNIN_FORGET_AFTER, SIGNIN_GLOBAL_MAX_DELAY, SIGNIN_MAX_DELAY
from rivya.download import download_media
from rivya.jobs import JobService
from rivya.media import inspect_image
from rivya.sandbox import Sandbox
from rivya.studio import Studio
from rivya.tasklog import SHARED_OWNER, TaskLog
from ui.access import OWN_KEY_MARK
from ui.services import get_studio, read_secrets
from ui.text import md_escape

from .conftest import APP, FAST_POLLS, FAST_TIMING, PAGE_SCRIPTS, ROOT, figures, image_bytes
from .test_jobs import follow

SHARED_KEY = "rvya_sk_shared_team_key_7d41c0"
PERSONAL_KEY = "rvya_sk_personal_key_93be55"


@pytest.fixture
def app_env(point_app) -> Iterator[Sandbox]:
    with Sandbox(timing=FAST_TIMING, api_key=SHARED_KEY) as sandbox:
        sandbox.add_key(PERSONAL_KEY)
        point_app(sandbox.url, SHARED_KEY)
        yield sandbox


def shown_text(at: AppTest) -> str:
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "metric", "html", "text", "code", "title")
    return " ".join(str(e.value) for kind in kinds for e in at.get(kind))


def reload(at: AppTest) -> AppTest:
    """What a browser reload does: a new session at the same address."""
    fresh = AppTest.from_file(APP, default_timeout=30)
    fresh.query_params.update(at.query_params)
    fresh.run()
    return fresh


@contextmanager
def use_secrets_files(*paths: Path) -> Iterator[None]:
    """Point ``st.secrets`` at other files (Streamlit's ``secrets.files`` option) for a while."""
    saved = streamlit_config.get_option("secrets.files")
    streamlit_config.set_option("secrets.files", [str(p) for p in paths])
    try:
        yield
    finally:
        streamlit_config.set_option("secrets.files", saved)


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
    assert figures(at)["Credit balance"] == "1,000"
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
    assert figures(at)["Credit balance"] == "1,000"


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


def test_a_malformed_secrets_file_stops_the_app_and_names_the_file_only_in_the_server_log(
    app_env: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('RIVYA_API_KEY = "rvya_sk_unterminated\n')
    with use_secrets_files(tmp_path / "absent.toml"):
        assert read_secrets() == {}  # no file at all: simply no secrets
    with use_secrets_files(secrets), caplog.at_level(logging.ERROR, logger="imagine_studio"):
        with pytest.raises(ValueError, match="the secrets file could not be read") as raised:
            read_secrets()
        at = AppTest.from_file(APP, default_timeout=30)
        at.run()
    assert str(secrets) in caplog.text and str(secrets) not in str(raised.value)  # the server log names it
    assert "rvya_sk_unterminated" not in caplog.text and "rvya_sk_unterminated" not in str(raised.value)
    assert not at.exception and "Imagine Studio cannot start" in at.error[0].value
    assert md_escape("the secrets file could not be read (Illegal character") in at.error[0].value
    assert str(tmp_path) not in at.error[0].value and md_escape(str(tmp_path)) not in at.error[0].value
    assert not at.info and not figures(at)  # no demo banner: the app did not fall back to the sandbox


def test_a_reloaded_tab_that_used_its_own_key_must_choose_who_pays(app_env: Sandbox) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert OWN_KEY_MARK not in at.query_params
    at.text_input(key="key:input").input(PERSONAL_KEY)
    at.button(key="key:use").click().run()
    assert at.query_params[OWN_KEY_MARK] == "1"  # the address remembers, not the key
    reloaded = reload(at)
    assert "Which key pays?" in shown_text(reloaded) and "Using your own API key" not in shown_text(reloaded)
    reloaded.button(key="key:team").click().run()
    assert "Which key pays?" not in shown_text(reloaded) and OWN_KEY_MARK not in reloaded.query_params
    assert "Which key pays?" not in shown_text(reload(reloaded))  # the team key was chosen: no more asking
    again = reload(at)
    again.text_input(key="key:input").input(PERSONAL_KEY)
    again.button(key="key:use").click().run()
    assert "Using your own API key" in shown_text(again) and "Which key pays?" not in shown_text(again)
    assert PERSONAL_KEY not in shown_text(again)
    again.button(key="key:forget").click().run()
    assert OWN_KEY_MARK not in again.query_params


def test_no_job_is_sent_while_the_tab_has_not_said_who_pays(app_env: Sandbox) -> None:
    at = AppTest.from_file(str(ROOT / "pages/image.py"), default_timeout=30)
    at.query_params[OWN_KEY_MARK] = "1"
    at.run()
    assert "Which key pays?" in shown_text(at)
    at.text_area(key="grok-imagine:prompt").input("who pays for this?").run()
    assert at.button(key="grok-imagine:generate").disabled  # the press re-checks it too (test_presses)
    assert "Choose which key pays" in shown_text(at)
    at.run()
    assert app_env.state.tasks == {} and not at.exception


# -- access ----------------------------------------------------------------------------------


def test_password_gate_delays_grow() -> None:
    gate = PasswordGate("open sesame")
    me = {"session": "s1", "address": "198.51.100.7"}
    assert "open sesame" not in repr(gate)
    assert gate.delay(**me) == 0
    assert not gate.check("open", sleep=False, **me)
    assert [gate.delay(**me), gate.check("x", sleep=False, **me), gate.delay(**me)] == [1.0, False, 2.0]
    for _ in range(10):
        gate.check("nope", sleep=False, **me)
    assert gate.delay(**me) == 30.0
    assert gate.check("open sesame", sleep=False, **me)


class FakeTime:
    """The gate's clock and sleep: a wait moves the clock on and is recorded, nothing really sleeps."""

    def __init__(self) -> None:
        self.now, self.waits = 1000.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_misses_elsewhere_delay_the_right_password_at_most_the_global_ceiling() -> None:
    """One guesser's 40 misses (one address, fresh sessions each time) slow that address to 30 s a try; a teammate in a
    fresh session elsewhere waits at most SIGNIN_GLOBAL_MAX_DELAY, and a teammate's own typos count against only them."""
    time_ = FakeTime()
    gate = PasswordGate("open sesame", sleep=time_.sleep, clock=time_.clock)
    for n in range(40):
        assert not gate.check(f"guess {n}", session=f"guesser-{n}", address="203.0.113.9")
    assert max(time_.waits) == SIGNIN_MAX_DELAY
    assert gate.delay("another", "203.0.113.9") == SIGNIN_MAX_DELAY  # a new tab: no reset
    time_.waits.clear()
    assert gate.check("open sesame", session="teammate", address="198.51.100.7")
    assert time_.waits == [SIGNIN_GLOBAL_MAX_DELAY] and SIGNIN_GLOBAL_MAX_DELAY < SIGNIN_MAX_DELAY
    assert gate.check("open sesame", session="colleague", address=None)  # no address known (a local connection)
    assert time_.waits == [SIGNIN_GLOBAL_MAX_DELAY, SIGNIN_GLOBAL_MAX_DELAY]
    for n in range(5):  # one person's typos behind an unknown address: their session slows, not the team beyond the cap
        gate.check(f"typo {n}", session="typist", address=None)
    assert gate.delay("typist", None) == 16.0 and gate.delay("fresh", None) == SIGNIN_GLOBAL_MAX_DELAY
    time_.now += SIGNIN_FORGET_AFTER + 1
    assert gate.delay("typist", None) == gate.delay("another", "203.0.113.9") == 0.0  # forgotten after a quiet spell


def test_a_guesser_spread_over_many_addresses_is_still_slowed() -> None:
    time_ = FakeTime()
    gate = PasswordGate("open sesame", sleep=time_.sleep, clock=time_.clock)
    for n in range(10):
        assert not gate.check(f"guess {n}", session=f"s{n}", address=f"203.0.113.{n}")
    assert time_.waits == [1.0, 2.0] + [SIGNIN_GLOBAL_MAX_DELAY] * 7  # each fresh session and address waits the global part


def test_a_parallel_flood_from_one_address_queues() -> None:
    """While one attempt from an address waits its delay, another from the same address (a new session) queues behind
    it, then waits the delay the first's miss earned; without the address's turn it would compare at once."""
    waits: list[float] = []
    second_done = threading.Event()

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            second_done.wait(2)  # the first attempt's wait lasts until the second is done, or 2 s if it queues

    gate = PasswordGate("open sesame", sleep=sleep)
    address = "203.0.113.9"
    assert not gate.check("first miss", session="s0", address=address, sleep=False)
    first = threading.Thread(target=gate.check, args=("guess 1",), kwargs={"session": "s1", "address": address})
    first.start()
    deadline = time.monotonic() + 30
    while not waits and time.monotonic() < deadline:
        time.sleep(0.01)

    def second_guess() -> None:
        gate.check("guess 2", session="s2", address=address)
        second_done.set()

    second = threading.Thread(target=second_guess)
    second.start()
    first.join(30)
    second.join(30)
    assert waits == [1.0, 2.0]


def test_pages_render_nothing_until_the_password(app_env: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_PASSWORD", "correct horse")
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not figures(at) and [t.value for t in at.title] == ["Imagine Studio"]
    assert not at.sidebar.get("page_link") and not at.get("text_area")
    at.text_input(key="access:password").input("wrong")
    at.button[0].click().run()
    assert "not right" in at.error[0].value and not figures(at)
    at.text_input(key="access:password").input("correct horse")
    at.button[0].click().run()
    assert set(figures(at)) >= {"Credit balance"}
    at.switch_page("pages/image.py").run()
    assert at.get("text_area")  # the Image page's form is there now


def test_password_attempts_are_taken_one_at_a_time() -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds / 20)  # a real wait, scaled down, so attempts overlap

    gate = PasswordGate("open sesame", sleep=sleep)
    start = threading.Barrier(4)

    def guess(n: int) -> bool:
        start.wait()
        return gate.check(f"guess {n}", session=f"s{n}", address="203.0.113.9")

    with ThreadPoolExecutor(4) as pool:
        assert not any(pool.map(guess, range(4)))
    assert sorted(waits) == [1.0, 2.0, 4.0]  # in parallel they wait 1+2+4 s, not 1 s each
    assert gate.delay("s9", "203.0.113.9") == 8.0


@pytest.mark.parametrize("page", PAGE_SCRIPTS)
def test_a_page_run_alone_shows_only_the_password_prompt(app_env: Sandbox, monkeypatch: pytest.MonkeyPatch, page: str) -> None:
    monkeypatch.setenv("APP_PASSWORD", "correct horse")
    at = AppTest.from_file(str(ROOT / page), default_timeout=30)
    at.run()
    assert [t.value for t in at.title] == ["Imagine Studio"] and [i.key for i in at.text_input] == ["access:password"]
    assert not figures(at) and not at.text_area and not at.get("arrow_data_frame") and len(at.button) == 1
    at.text_input(key="access:password").input("correct horse")
    at.button[0].click().run()
    assert not at.exception and "Imagine Studio" not in [t.value for t in at.title]
    assert at.text_area if page != "pages/history.py" else figures(at)


def test_the_legacy_pages_flag_is_where_we_expect() -> None:
    """``ui.services.ensure_navigation`` flips this non-public flag: a Streamlit upgrade that moves it fails here."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    saved = PagesManager.uses_pages_directory
    try:
        PagesManager.uses_pages_directory = None
        PagesManager(APP)
        assert PagesManager.uses_pages_directory is True  # a pages/ folder beside the main script: legacy mode
    finally:
        PagesManager.uses_pages_directory = saved
    assert "if PagesManager.uses_pages_directory:" in inspect.getsource(script_runner)


# -- one backend per process, one follower per data folder -----------------------------------


def followers() -> int:
    return sum(t.name == "rivya-follower" for t in threading.enumerate())


def test_clearing_streamlit_caches_keeps_one_backend_and_the_password_delay(
    app_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_PASSWORD", "correct horse")
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.text_input(key="access:password").input("wrong")
    at.button[0].click().run()
    studio, running = get_studio(), followers()
    assert studio.following and studio.gate.delay() == 1.0  # the global part: any session's next try
    st.cache_data.clear()  # what any browser's "clear cache" message does, for every session
    st.cache_resource.clear()
    other = AppTest.from_file(APP, default_timeout=30)
    other.run()
    assert get_studio() is studio and followers() == running and studio.gate.delay() == 1.0


def test_one_follower_per_data_folder_across_processes(app_env: Sandbox, tmp_path: Path) -> None:
    settings = Settings(api_key=SHARED_KEY, base_url=app_env.url, data_dir=tmp_path)
    first = Studio.open(settings)
    try:
        assert first.following
        probe = (
            "import sys, threading; from pathlib import Path; from rivya.config import Settings; "
            "from rivya.studio import Studio; "
            "s = Studio.open(Settings(api_key=sys.argv[1], base_url=sys.argv[2], data_dir=Path(sys.argv[3]))); "
            "print(s.following, ' '.join(t.name for t in threading.enumerate())); s.close()"
        )
        second = subprocess.run(
            [sys.executable, "-c", probe, SHARED_KEY, app_env.url, str(tmp_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        )
        following, threads = second.stdout.strip().split(" ", 1)
        assert following == "False" and "rivya-standby" in threads.split() and "rivya-follower" not in threads.split()
        assert "Another process already follows the jobs" in second.stderr and SHARED_KEY not in second.stderr
    finally:
        first.close()


def test_a_standby_backend_takes_over_when_the_follower_stops(
    app_env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rivya.studio.STANDBY_RETRY", 0.1)
    settings = Settings(api_key=SHARED_KEY, base_url=app_env.url, data_dir=tmp_path)
    first, second = Studio.open(settings), Studio.open(settings)
    try:
        assert first.following and not second.following
        first.close()
        deadline = time.monotonic() + 5
        while not second.following and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.following
    finally:
        first.close()
        second.close()


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
    assert at.button(key="grok-imagine:generate").disabled  # the press re-checks it too (test_presses)
    assert "This costs 4 credits; 3 are left of the team's budget today." in shown_text(at)
    assert app_env.state.tasks == {}
    at.switch_page("pages/history.py").run()
    assert figures(at).get("Team budget used today") in (None, "0 / 3")


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
    from rivya.download import MediaRefused

    client = RivyaClient(SHARED_KEY, app_env.url)
    uploaded = client.upload_file(image_bytes("PNG", (400, 400), "red"), model="grok-imagine")
    with pytest.raises(RivyaError, match="not an http"):  # MediaRefused, as every refusal below
        download_media("file:///etc/passwd", tmp_path / "x", expected="image", allow_private=True)
    with pytest.raises(MediaRefused, match="private or loopback"):  # the sandbox's own links only when the API is local
        download_media(uploaded.url, tmp_path / "p", expected="image", allow_private=False)
    with pytest.raises(MediaRefused, match="not video"):
        download_media(uploaded.url, tmp_path / "v", expected="video", allow_private=True)
    with pytest.raises(MediaRefused, match="larger than"):
        download_media(uploaded.url, tmp_path / "big", expected="image", allow_private=True, max_bytes=100)
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left behind
    saved = download_media(uploaded.url, tmp_path / "ok", expected="image", allow_private=True)
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
    for details in at.expander:  # a finished card builds its details once they are opened
        if details.key and details.key.startswith("grok-imagine:panel:details:"):
            at.session_state[details.key] = True
    at.run()
    assert nasty in [t.value for t in at.get("text")]  # the prompt, verbatim, as plain text
    escaped = md_escape(nasty)
    assert "\\*\\*bold\\*\\*" in escaped and "\\<img" in escaped and "\\[click\\]" in escaped and "\\$x" in escaped
    assert not at.exception
