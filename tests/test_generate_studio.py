"""The generate pages as a studio (AppTest, real sandbox, real log): variations, budgets, Animate, prompt library."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rivya.catalog import MODELS
from rivya.config import Settings
from rivya.people import Person
from rivya.presets import list_presets
from rivya.presses import intent_keys
from rivya.sandbox import Sandbox
from rivya.studio import Studio
from ui.generate import budget_caption
from ui.session import SESSION

from .conftest import creates, open_page, wait_for

IMAGE = "grok-imagine"
VIDEO = "grok-imagine-video"


def uploads(sandbox: Sandbox) -> list:
    return [e for e in sandbox.journal if e.method == "POST" and e.path == "/api/v1/files"]


def studio():
    from ui.services import get_studio

    return get_studio()


def markdown(at: AppTest) -> str:
    return " | ".join(m.value for m in at.markdown)


def test_intent_keys_are_distinct_and_one_take_keeps_the_intent() -> None:
    assert intent_keys("studio-abc", 1) == ["studio-abc"]
    assert intent_keys("studio-abc", 3) == ["studio-abc-1", "studio-abc-2", "studio-abc-3"]


@pytest.mark.parametrize(("page", "model", "name"), [("pages/image.py", IMAGE, "Image"), ("pages/video.py", VIDEO, "Video")])
def test_the_page_is_titled_as_the_navigation_names_it_with_its_model_below(app_sandbox: Sandbox, page: str, model: str,
                                                                            name: str) -> None:
    at = open_page(page)
    assert [t.value for t in at.title] == [name]
    assert f"Model: {MODELS[model].display_name}" in [c.value for c in at.caption]


def test_how_many_always_holds_a_choice_and_generate_has_no_tooltip(app_sandbox: Sandbox) -> None:
    at = open_page("pages/image.py")
    count = at.segmented_control(key=f"{IMAGE}:count")
    assert count.value == 1 and count.proto.required  # the browser cannot clear the selected segment
    assert not at.button(key=f"{IMAGE}:generate").help  # its tooltip opened over How many


def test_a_batch_of_three_is_one_press(app_sandbox: Sandbox) -> None:
    at = open_page("pages/image.py")
    at.text_area(key=f"{IMAGE}:prompt").input("three takes of a fox").run()
    at.segmented_control(key=f"{IMAGE}:count").set_value(3).run()
    assert at.button(key=f"{IMAGE}:generate").label == "Generate 3 · 12 credits"  # the total before anything is sent
    assert not creates(app_sandbox)
    at.button(key=f"{IMAGE}:generate").click().run()
    at.button(key=f"{IMAGE}:generate").click().run()  # the second half of a double click
    at.run()
    sent = creates(app_sandbox)
    assert len(sent) == 3 and len({e.idempotency_key for e in sent}) == 3
    jobs = studio().log.where("prompt = ?", ("three takes of a fox",))
    assert len(jobs) == 3 and len({j.batch_id for j in jobs}) == 1 and jobs[0].batch_id
    assert {j.idempotency_key for j in jobs} == {e.idempotency_key for e in sent}
    assert sorted(at.session_state[SESSION].model(IMAGE).followed) == sorted(j.id for j in jobs)
    assert "balance 988" in markdown(at)
    wait_for(at, lambda a: len(a.get("image")) >= 3)  # the panel follows all three
    assert len(creates(app_sandbox)) == 3 and app_sandbox.state.balance() == 988 and not at.exception


def test_the_wallet_is_checked_for_the_whole_batch(app_sandbox: Sandbox) -> None:
    app_sandbox.set_credits(10)
    at = open_page("pages/image.py")
    at.text_area(key=f"{IMAGE}:prompt").input("too many foxes").run()
    at.segmented_control(key=f"{IMAGE}:count").set_value(3).run()
    # Generate waits, saying why (``Studio.submit`` checks the wallet again, read fresh, at a press: test_presses).
    assert at.button(key=f"{IMAGE}:generate").disabled
    assert any(c.value.endswith("This costs 12 credits; the wallet holds 10. Top up to generate.") for c in at.caption)
    at.segmented_control(key=f"{IMAGE}:count").set_value(2).run()
    assert not at.button(key=f"{IMAGE}:generate").disabled
    assert not creates(app_sandbox)


def test_a_batch_over_the_daily_budget_sends_nothing(app_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAILY_CREDIT_BUDGET", "8")  # room for two images of 4, not three
    monkeypatch.setenv("BUDGET_TIMEZONE", "Europe/Berlin")
    at = open_page("pages/image.py")
    assert "Team budget today: 0 of 8 credits used (resets at midnight Europe/Berlin)." in [c.value for c in at.caption]
    at.text_area(key=f"{IMAGE}:prompt").input("a budget of foxes").run()
    at.segmented_control(key=f"{IMAGE}:count").set_value(3).run()
    assert at.button(key=f"{IMAGE}:generate").disabled  # all or none: not even two
    assert any(c.value.endswith("This costs 12 credits; 8 are left of the team's budget today.") for c in at.caption)
    assert not creates(app_sandbox) and studio().log.count() == 0
    at.segmented_control(key=f"{IMAGE}:count").set_value(2).run()
    at.button(key=f"{IMAGE}:generate").click().run()
    assert len(creates(app_sandbox)) == 2
    assert "Team budget today: 8 of 8 credits used (resets at midnight Europe/Berlin)." in [c.value for c in at.caption]
    assert at.button(key=f"{IMAGE}:generate").disabled
    assert any(c.value.endswith("This costs 8 credits; 0 are left of the team's budget today.") for c in at.caption)


def test_the_caption_names_both_budgets_and_when_they_reset(app_sandbox: Sandbox, tmp_path: Path) -> None:
    settings = Settings(api_key=app_sandbox.api_key, base_url=app_sandbox.url, data_dir=tmp_path / "caption",
                        daily_budget=100, person_daily_budget=20, budget_timezone="Asia/Tokyo")
    opened = Studio.open(settings, follow=False)
    try:
        ada, bo = Person("ada@example.com", "Ada"), Person("bo@example.com", "Bo")
        for key, person, credits in (("a1", ada, 4), ("a2", ada, 10), ("b1", bo, 10)):
            job = opened.log.add(idempotency_key=key, backend="sandbox", model=IMAGE, category="image", prompt=key, params={},
                                 person=person.id, person_name=person.name)
            opened.log.update(job.id, status="succeeded", reserved_credits=credits, final_credits=credits)
        assert budget_caption(opened, ada) == ("Team budget today: 24 of 100 credits used · your budget today: 14 of 20 used "
                                               "(resets at midnight Asia/Tokyo).")
        assert budget_caption(opened, None) == "Team budget today: 24 of 100 credits used (resets at midnight Asia/Tokyo)."
        alone = Studio.open(Settings(api_key=app_sandbox.api_key, base_url=app_sandbox.url, data_dir=tmp_path / "caption",
                                     person_daily_budget=20), follow=False)
        try:
            assert budget_caption(alone, bo) == "Your budget today: 10 of 20 used (resets at midnight UTC)."
            assert budget_caption(alone, None) is None
        finally:
            alone.close()
    finally:
        opened.close()


def finished_image(app_sandbox: Sandbox, prompt: str) -> tuple[AppTest, int, Path]:
    at = open_page("pages/image.py")
    at.text_area(key=f"{IMAGE}:prompt").input(prompt).run()
    at.button(key=f"{IMAGE}:generate").click().run()
    wait_for(at, lambda a: len(a.get("image")) == 1 and "**Done**" in markdown(a))
    (job,) = studio().log.where("prompt = ?", (prompt,))
    return at, job.id, Path(job.media_paths[0])


def test_animate_attaches_the_image_and_records_its_parent(app_sandbox: Sandbox) -> None:
    at, image_id, saved = finished_image(app_sandbox, "a lighthouse to animate")
    assert not uploads(app_sandbox)
    at.session_state[SESSION].animate_from = image_id  # what ui.actions' Animate button sets before opening the Video page
    at.switch_page("pages/video.py").run()
    assert not at.exception
    assert at.text_area(key=f"{VIDEO}:prompt").value == "a lighthouse to animate"
    assert "**Animating:**" in markdown(at) and f"from job #{image_id}" in markdown(at)
    assert not at.get("file_uploader")  # the animated image replaces the uploader's reference
    assert len(uploads(app_sandbox)) == 1
    (stored,) = app_sandbox.state.files.values()
    assert stored.data == saved.read_bytes()
    assert any(model == VIDEO for (_, model, _) in studio()._references)  # uploaded for the video model
    assert at.radio(key=f"{VIDEO}:aspect_ratio").value == "1:1"  # the image's shape, not the video default 2:3
    at.run().run()  # reruns keep it and never upload again
    assert len(uploads(app_sandbox)) == 1 and f"job #{image_id}" in markdown(at)
    at.text_area(key=f"{VIDEO}:prompt").input("the lighthouse beam sweeps the sea").run()
    at.button(key=f"{VIDEO}:generate").click().run()
    (video,) = studio().log.where("model = ?", (VIDEO,))
    assert video.parent_id == image_id and video.reference_url.endswith(stored.id)
    (task,) = [t for t in app_sandbox.state.tasks.values() if t.model == VIDEO]
    assert task.params["referenceMediaItems"][0]["url"].endswith(stored.id)
    assert task.params["aspect_ratio"] == "1:1"
    # Remove: the uploader is back and the next job has no parent.
    next(b for b in at.button if b.label == "Remove").click().run()
    assert "Animating" not in markdown(at) and len(at.get("file_uploader")) == 1
    time.sleep(2.1)
    at.button(key=f"{VIDEO}:generate").click().run()
    newest = studio().log.recent(model=VIDEO, limit=1)[0]
    assert newest.id != video.id and newest.parent_id is None and newest.reference_url is None


def test_animate_of_a_job_without_a_saved_result_says_so(app_sandbox: Sandbox) -> None:
    job = studio().log.add(idempotency_key="no-media", backend="sandbox", model=IMAGE, category="image", prompt="lost", params={})
    at = open_page("pages/image.py")
    at.session_state[SESSION].animate_from = job.id
    at.switch_page("pages/video.py").run()
    assert "cannot be animated" in at.error[0].value and "Animating" not in markdown(at)
    assert not uploads(app_sandbox) and not at.exception


def test_presets_apply_save_and_record_their_use(app_sandbox: Sandbox) -> None:
    at = open_page("pages/video.py")
    log = studio().log
    starters = list_presets(log, VIDEO)
    assert starters and all(p.builtin for p in starters)  # shipped presets arrive with the first page
    first = starters[0]
    at.session_state[f"{VIDEO}:library"] = True  # opened: its contents are drawn only then
    at.run()
    at.selectbox(key=f"{VIDEO}:preset-pick").set_value(first.id).run()
    next(b for b in at.button if b.label == "Apply").click().run()
    assert at.text_area(key=f"{VIDEO}:prompt").value == first.prompt
    assert at.slider(key=f"{VIDEO}:duration").value == first.params["duration"]
    at.button(key=f"{VIDEO}:generate").click().run()
    assert log.recent(model=VIDEO, limit=1)[0].preset_id == first.id
    # A changed setting is no longer the preset: the next job records none.
    at.slider(key=f"{VIDEO}:duration").set_value(first.params["duration"] + 1).run()
    at.button(key=f"{VIDEO}:generate").click().run()
    assert log.recent(model=VIDEO, limit=1)[0].preset_id is None
    # Save the current form under a name, shared by the team.
    at.text_input(key=f"{VIDEO}:preset-name").input("Longer take").run()
    next(b for b in at.button if b.label == "Save").click().run()
    saved = next(p for p in list_presets(log, VIDEO) if p.name == "Longer take")
    assert saved.params["duration"] == first.params["duration"] + 1 and saved.prompt == first.prompt
    assert any("Saved “Longer take”" in s.value for s in at.success)
    assert at.session_state[f"{VIDEO}:library-tab"] == "Presets"  # the tab showing the new preset stays open
    assert at.selectbox(key=f"{VIDEO}:preset-pick").value == saved.id
    at.text_input(key=f"{VIDEO}:preset-name").input("longer TAKE").run()
    next(b for b in at.button if b.label == "Save").click().run()
    assert any("already exists" in e.value for e in at.error) and not at.exception


def test_a_recent_prompt_refills_the_box(app_sandbox: Sandbox) -> None:
    at = open_page("pages/image.py")
    for prompt in ("an owl at night", "a heron at dawn"):
        at.text_area(key=f"{IMAGE}:prompt").input(prompt).run()
        at.button(key=f"{IMAGE}:generate").click().run()
    at.text_area(key=f"{IMAGE}:prompt").input("").run()
    assert not [t for t in at.text if t.value == "an owl at night"]  # the library is folded until opened
    at.session_state[f"{IMAGE}:library"] = True
    at.run()
    mine = ("an owl at night", "a heron at dawn")
    assert [t.value for t in at.text if t.value in mine] == ["a heron at dawn", "an owl at night"]  # newest first
    at.text_input(key=f"{IMAGE}:recent-search").input("owl").run()
    assert [t.value for t in at.text if t.value in mine] == ["an owl at night"]
    next(b for b in at.button if b.label == "Use").click().run()
    assert at.text_area(key=f"{IMAGE}:prompt").value == "an owl at night"
    assert len(creates(app_sandbox)) == 2  # refilling never submits
