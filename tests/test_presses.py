"""One press of Generate or Try again (``rivya.presses`` through ``Studio``): plain pytest, the real sandbox, a real log."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rivya import RivyaClient
from rivya.config import Settings
from rivya.constants import DOUBLE_CLICK_SECONDS
from rivya.people import Person
from rivya.presets import list_presets, save_preset
from rivya.presses import CHOOSE_KEY, REFERENCE_GONE, Form, Intent, Notice, Who, next_intent
from rivya.sandbox import Sandbox
from rivya.studio import Studio
from rivya.tasklog import Job

from .conftest import creates, image_bytes, until

IMAGE = "grok-imagine"
ADA = Person("ada@example.com", "Ada")
WHO = Who(ADA, session_id="s1", page="image")


@pytest.fixture
def open_studio(sandbox: Sandbox, tmp_path: Path) -> Iterator[Callable[..., Studio]]:
    """A ``Studio`` on the sandbox (no follower thread: the tests need only what a press does), closed afterwards."""
    opened: list[Studio] = []

    def make(**settings: object) -> Studio:
        studio = Studio.open(Settings(api_key=sandbox.api_key, base_url=sandbox.url, data_dir=tmp_path / "data",
                                      **settings), follow=False)  # type: ignore[arg-type]
        opened.append(studio)
        return studio

    yield make
    for studio in opened:
        studio.close()


def asked(sandbox: Sandbox, path: str) -> int:
    return sum(1 for e in sandbox.journal if e.path == f"/api/v1/{path}")


def failed_job(studio: Studio, params: dict | None = None, reference_path: str | None = None) -> Job:
    """A failed job of another backend (so nothing follows it) in the studio's log."""
    row = studio.log.add(idempotency_key=f"seed-{studio.log.count()}", backend="elsewhere", model=IMAGE,
                         category="image", prompt="a fox, again", params=params or {"aspect_ratio": "16:9"},
                         reference_path=reference_path, page="image")
    return studio.log.update(row.id, status="failed", error_code="generation_failed", error_message="It failed.")


# -- the intent of a press ----------------------------------------------------------------------------------


def test_a_double_click_is_one_intent_and_a_later_or_changed_press_a_new_one() -> None:
    first = next_intent("form-a", None, 100.0)
    assert first is not None and first.key.startswith("studio-") and first.at == 100.0
    assert next_intent("form-a", first, 100.0 + DOUBLE_CLICK_SECONDS - 0.01) is None  # the second half of a double click
    later = next_intent("form-a", first, 100.0 + DOUBLE_CLICK_SECONDS)
    changed = next_intent("form-b", first, 100.5)
    assert later is not None and changed is not None
    assert len({first.key, later.key, changed.key}) == 3  # every new press has keys of its own
    assert next_intent("form-a", Intent("studio-x", "form-b", 100.0), 100.1) is not None  # another form: another press


# -- Generate -----------------------------------------------------------------------------------------------


def test_a_press_is_checked_once_before_anything_goes_out(sandbox: Sandbox, open_studio: Callable[..., Studio]) -> None:
    """Every problem comes back in one outcome, and the service is asked nothing (no balance, no create)."""
    studio = open_studio()
    form = Form(IMAGE, "   ", {"aspect_ratio": "5:4"}, reference_problem="The file is not an image.")
    outcome = studio.submit(form, Who(ADA, owner=None), "studio-checked")
    assert outcome.notice == Notice.FIX and not outcome.jobs and not outcome.waiting
    problems = " ".join(outcome.problems)
    assert "A prompt is required" in problems and "5:4" in problems
    assert "Remove or replace the reference image: The file is not an image." in problems
    assert CHOOSE_KEY in outcome.problems
    assert not creates(sandbox) and not asked(sandbox, "credits") and studio.log.count() == 0


@pytest.mark.parametrize(("count", "credits", "words"), [
    (1, 3, "This job costs 4 credits but the wallet holds 3. Top up, then try again."),
    (3, 10, "These 3 jobs cost 12 credits but the wallet holds 10. Top up, then try again."),
])
def test_a_wallet_that_cannot_pay_for_the_whole_press_sends_nothing(
    sandbox: Sandbox, open_studio: Callable[..., Studio], count: int, credits: int, words: str
) -> None:
    studio = open_studio()
    sandbox.set_credits(credits)
    outcome = studio.submit(Form(IMAGE, "foxes", {}, count=count), WHO, "studio-wallet")
    assert outcome.notice == Notice.FIX and outcome.problems == (words,)
    assert asked(sandbox, "credits") == 1  # read fresh, once
    assert not creates(sandbox) and studio.log.count() == 0


def test_a_batch_is_sent_all_or_none_under_the_studios_budget(sandbox: Sandbox, open_studio: Callable[..., Studio]) -> None:
    studio = open_studio(daily_budget=8)  # room for two images of 4, not three; never passed per press
    refused = studio.submit(Form(IMAGE, "a budget of foxes", {}, count=3), WHO, "studio-three")
    assert refused.notice == Notice.ERROR and refused.words is not None and not refused.jobs
    assert "the team's daily budget of 8 credits" in refused.words.title and "this needs 12" in refused.words.title
    assert not creates(sandbox) and studio.log.count() == 0  # not even two
    made = studio.submit(Form(IMAGE, "a budget of foxes", {}, count=2), WHO, "studio-two")
    assert made.notice is None and len(made.jobs) == 2
    assert [j.idempotency_key for j in made.jobs] == ["studio-two-1", "studio-two-2"]
    assert {j.batch_id for j in made.jobs} == {"studio-two"} and {j.person for j in made.jobs} == {ADA.id}
    assert {j.page for j in made.jobs} == {"image"} and {j.session_id for j in made.jobs} == {"s1"}
    again = studio.submit(Form(IMAGE, "a budget of foxes", {}, count=2), WHO, "studio-two")  # a rerun of that press
    assert [j.id for j in again.jobs] == [j.id for j in made.jobs] and len(creates(sandbox)) == 2


def test_a_preset_is_recorded_only_while_the_form_holds_it(open_studio: Callable[..., Studio]) -> None:
    studio = open_studio()
    preset = save_preset(studio.log, "Square fox", IMAGE, "a square fox", {"aspect_ratio": "1:1"}, None)
    kept = studio.submit(Form(IMAGE, "a square fox", {"aspect_ratio": "1:1"}, preset_id=preset.id), WHO, "studio-p1")
    changed = studio.submit(Form(IMAGE, "a square fox", {"aspect_ratio": "16:9"}, preset_id=preset.id), WHO, "studio-p2")
    assert kept.jobs[0].preset_id == preset.id and changed.jobs[0].preset_id is None


def test_a_press_that_cannot_write_the_log_says_nothing_was_sent(sandbox: Sandbox, open_studio: Callable[..., Studio],
                                                                tmp_path: Path) -> None:
    studio = open_studio()
    path = studio.log.db.path
    assert path is not None
    shutil.move(path, tmp_path / "aside.sqlite3")
    try:
        outcome = studio.submit(Form(IMAGE, "a fox without its log", {}), WHO, "studio-down")
    finally:
        shutil.move(tmp_path / "aside.sqlite3", path)
    assert outcome.notice == Notice.ERROR and outcome.words is not None
    assert "Nothing was sent or charged" in outcome.words.action
    assert not outcome.jobs and not outcome.waiting and not creates(sandbox)


# -- Try again ----------------------------------------------------------------------------------------------


def test_try_again_sends_the_failed_job_anew_once(sandbox: Sandbox, open_studio: Callable[..., Studio]) -> None:
    studio = open_studio()
    failed = failed_job(studio)
    outcome = studio.retry(failed.id, Who(ADA, session_id="s2"), "studio-again")
    assert outcome.notice is None and len(outcome.jobs) == 1
    (made,) = outcome.jobs
    assert made.id != failed.id and made.idempotency_key == "studio-again"
    assert (made.model, made.prompt, made.params, made.page) == (failed.model, failed.prompt, failed.params, "image")
    assert studio.retry(failed.id, Who(ADA, session_id="s2"), "studio-again").jobs[0].id == made.id  # a rerun
    assert len(creates(sandbox)) == 1
    done = studio.log.update(made.id, status="succeeded")
    assert studio.retry(done.id, WHO, "studio-not-again") == type(outcome)()  # only a failure is tried again
    assert len(creates(sandbox)) == 1


def test_try_again_is_checked_as_generate_is(sandbox: Sandbox, open_studio: Callable[..., Studio]) -> None:
    studio = open_studio()
    failed = failed_job(studio)
    sandbox.set_credits(3)
    poor = studio.retry(failed.id, WHO, "studio-poor")
    assert poor.problems == ("This job costs 4 credits but the wallet holds 3. Top up, then try again.",)
    unchosen = studio.retry(failed.id, Who(ADA, owner=None), "studio-unchosen")
    assert unchosen.notice == Notice.FIX and unchosen.problems == (CHOOSE_KEY,)
    assert not creates(sandbox)


def test_try_again_attaches_the_kept_reference_or_says_it_is_gone(sandbox: Sandbox,
                                                                  open_studio: Callable[..., Studio]) -> None:
    studio = open_studio()
    reference = studio.prepare_reference(image_bytes(color="orange"), "ref.png", IMAGE)
    item = reference.uploaded.as_reference_item()
    kept = failed_job(studio, params={"referenceMediaItems": [item]}, reference_path=reference.local_path)
    made = studio.retry(kept.id, WHO, "studio-ref").jobs[0]
    assert made.reference_path == reference.local_path and made.params["referenceMediaItems"] == [item]
    elsewhere = failed_job(studio, params={"referenceMediaItems": [item]}, reference_path="/etc/hostname")
    gone = studio.retry(elsewhere.id, WHO, "studio-gone")
    assert gone.notice == Notice.ERROR and gone.words == REFERENCE_GONE and not gone.jobs
    assert len(creates(sandbox)) == 1


# -- the studio's opening -------------------------------------------------------------------------------------


def test_the_shipped_presets_arrive_when_the_studio_opens(open_studio: Callable[..., Studio]) -> None:
    studio = open_studio()
    starters = list_presets(studio.log, IMAGE)
    assert starters and all(p.builtin for p in starters)  # before any page ran


def test_a_page_run_shows_the_last_balance_while_one_background_request_refreshes_it(
        open_studio: Callable[..., Studio], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run of every page shows the balance: once known, a run never waits on Rivya for it (an old figure is
    shown while one request refreshes it), and the press's own check always asks."""
    studio = open_studio()
    assert studio.balance() == 1000
    sandbox.set_credits(700)
    monkeypatch.setattr("rivya.studio.BALANCE_TTL", 0.0)
    before = asked(sandbox, "credits")
    assert studio.balance() == 1000  # the figure it had; the new one is being asked for in the background
    until(lambda: studio.balance() == 700)
    assert studio.balance(fresh=True) == 700 and asked(sandbox, "credits") >= before + 2
    studio.forget_balance()
    sandbox.set_credits(650)
    assert studio.balance() == 650  # forgotten after a press: asked for again before it is shown


def test_a_background_refresh_that_left_before_a_press_does_not_bring_back_the_old_balance(
        open_studio: Callable[..., Studio], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refresh stores its reply only while the figure it left from is still the one kept: a press that spent credits
    meanwhile (``forget_balance``) and the fresh figure read after it win over the older reply."""
    studio = open_studio()
    assert studio.balance() == 1000
    monkeypatch.setattr("rivya.studio.BALANCE_TTL", 0.0)
    real, release, inside = RivyaClient.get_credits, threading.Event(), threading.Event()

    def held(self: RivyaClient) -> object:
        reply = real(self)
        if threading.current_thread().name == "balance-refresh":  # the background refresh waits with its reply
            inside.set()
            assert release.wait(30)
        return reply

    monkeypatch.setattr(RivyaClient, "get_credits", held)
    sandbox.set_credits(700)
    assert studio.balance() == 1000  # the refresh has left; its reply (700) is held
    assert inside.wait(30)
    studio.forget_balance()  # a press spent credits
    sandbox.set_credits(650)
    assert studio.balance() == 650  # asked for again before it is shown
    release.set()
    until(lambda: not any(t.name == "balance-refresh" for t in threading.enumerate()))
    monkeypatch.setattr("rivya.studio.BALANCE_TTL", 3600.0)
    assert studio.balance() == 650  # not the 700 the refresh brought back
