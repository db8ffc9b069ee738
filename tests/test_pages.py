"""Streamlit AppTest of each page against a real sandbox, a real log and the real follower."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from rivya.catalog import MODELS
from rivya.sandbox import Sandbox
from ui.session import SESSION

from .conftest import APP, creates, figures, open_page, wait_for


@pytest.mark.parametrize(("page", "model"), [("pages/image.py", "grok-imagine"), ("pages/video.py", "grok-imagine-video")])
def test_form_is_built_from_the_catalog(app_sandbox: Sandbox, page: str, model: str) -> None:
    at = open_page(page)
    spec = MODELS[model]
    assert at.title[0].value == spec.category.capitalize() and f"Model: {spec.display_name}" in [c.value for c in at.caption]
    assert not at.text_area(key=f"{model}:prompt").max_chars  # the browser would cut a paste in UTF-16 units
    assert f"0 / {spec.max_prompt_length:,} characters" in [c.value for c in at.caption]
    for param in spec.params:
        key = f"{model}:{param.key}"
        if param.kind == "number":
            slider = at.slider(key=key)
            assert (slider.min, slider.max, slider.value) == (param.minimum, param.maximum, param.default)
        elif set(param.options) == {"false", "true"}:
            assert at.toggle(key=key).value is (param.default == "true")
        else:
            radio = at.radio(key=key)
            assert list(radio.options) == [param.label_for(o) for o in param.options]
            assert radio.value == param.default
    assert at.button(key=f"{model}:generate").label == f"Generate · {spec.base_credits} credits"
    assert any(m.value == "Credit balance 1,000" for m in at.markdown)


def test_generate_waits_for_a_prompt_it_can_send_and_says_why(app_sandbox: Sandbox) -> None:
    at = open_page("pages/video.py")
    generate = at.button(key="grok-imagine-video:generate")
    assert generate.disabled  # a fresh form: nothing to send yet
    at.text_area(key="grok-imagine-video:prompt").input("   ").run()
    assert at.button(key="grok-imagine-video:generate").disabled
    assert "Describe the video you want in the prompt box." in " ".join(c.value for c in at.caption)
    # An over-long paste stays in the box, counted as validate() counts, and cannot be sent.
    at.text_area(key="grok-imagine-video:prompt").input("🦊" * 5001).run()
    assert "5,001 / 5,000 characters: 1 too many" in at.error[0].value
    assert at.button(key="grok-imagine-video:generate").disabled
    assert "Shorten the prompt to generate." in " ".join(c.value for c in at.caption)
    at.text_area(key="grok-imagine-video:prompt").input("🦊" * 5000).run()
    assert not at.button(key="grok-imagine-video:generate").disabled
    assert not any("prompt" in c.value for c in at.caption if "characters" not in c.value)
    assert len(creates(app_sandbox)) == 0 and not at.exception


def test_a_short_wallet_stops_generate_until_it_is_topped_up(app_sandbox: Sandbox) -> None:
    from ui.services import get_studio

    app_sandbox.set_credits(3)
    at = open_page("pages/image.py")
    at.text_area(key="grok-imagine:prompt").input("a fox").run()
    assert at.button(key="grok-imagine:generate").disabled
    assert any(c.value.endswith("This costs 4 credits; the wallet holds 3. Top up to generate.") for c in at.caption)
    at.run().run()  # refreshes keep it so
    assert at.button(key="grok-imagine:generate").disabled and len(creates(app_sandbox)) == 0
    app_sandbox.set_credits(100)
    get_studio().forget_balance()  # the wallet is read again (as after its few seconds of cache)
    at.run()
    assert not at.button(key="grok-imagine:generate").disabled
    at.button(key="grok-imagine:generate").click().run()
    assert not any("wallet holds" in c.value for c in at.caption) and len(creates(app_sandbox)) == 1


def test_one_click_one_task_even_with_reruns_and_a_double_click(app_sandbox: Sandbox) -> None:
    at = open_page("pages/image.py")
    at.text_area(key="grok-imagine:prompt").input("one fox only").run()
    at.button(key="grok-imagine:generate").click().run()
    assert any("balance 996" in m.value for m in at.markdown)  # the new job's reservation shows at once
    at.button(key="grok-imagine:generate").click().run()  # the second half of a double click
    at.run()
    at.run()
    assert len(app_sandbox.state.tasks) == 1 and len(creates(app_sandbox)) == 1
    wait_for(at, lambda a: any("**Done**" in m.value for m in a.markdown) and len(a.get("image")) == 1)  # result saved
    assert app_sandbox.state.balance() == 996
    assert len(at.get("image")) == 1 and len(at.get("download_button")) == 1 and not at.exception
    time.sleep(2.1)  # a deliberate second click later is a new job
    at.button(key="grok-imagine:generate").click().run()
    assert len(app_sandbox.state.tasks) == 2


def test_failed_job_shows_its_message_and_refund(app_sandbox: Sandbox) -> None:
    at = open_page("pages/video.py")
    at.text_area(key="grok-imagine-video:prompt").input("this will #fail").run()
    at.button(key="grok-imagine-video:generate").click().run()
    wait_for(at, lambda a: len(a.error) > 0)
    assert at.error[0].value.count("The generation failed") == 1  # the service's identical words are not repeated
    assert any("10 credits were returned" in c.value for c in at.caption)
    # A different message from the service is shown too, as text.
    from ui.services import get_studio

    with_log = get_studio().log
    job = with_log.recent(limit=1)[0]
    with_log.update(job.id, error_message="Flagged by **policy** <b>check</b>")
    at.run()
    assert "Rivya said\\: “Flagged by \\*\\*policy\\*\\* \\<b\\>check\\</b\\>”" in at.error[0].value
    assert not at.exception


def test_use_these_settings_refills_the_form(app_sandbox: Sandbox) -> None:
    at = open_page("pages/video.py")
    at.text_area(key="grok-imagine-video:prompt").input("waves at night").run()
    at.slider(key="grok-imagine-video:duration").set_value(9).run()
    at.radio(key="grok-imagine-video:aspect_ratio").set_value("16:9").run()
    at.button(key="grok-imagine-video:generate").click().run()
    wait_for(at, lambda a: any("**Done**" in m.value for m in a.markdown))
    at.text_area(key="grok-imagine-video:prompt").input("something else").run()
    at.slider(key="grok-imagine-video:duration").set_value(20).run()
    at.session_state[SESSION].model("grok-imagine-video").notice = ("fix", "Nothing was sent. A prompt is required.")
    at.run()
    assert any("A prompt is required" in e.value for e in at.error)  # the last press's message
    reuse = next(b for b in at.button if b.label == "Use these settings")
    reuse.click().run()
    from ui.services import get_studio

    job = get_studio().log.recent(limit=1)[0]
    (filled,) = [s.value.replace("\\", "") for s in at.success]  # shown as Markdown, its # escaped
    assert filled == f"Settings from job #{job.id} are in the form. Change anything, then press Generate."
    assert not any("A prompt is required" in e.value for e in at.error)  # it was about another prompt: gone
    assert job.prompt == "waves at night"
    assert at.text_area(key="grok-imagine-video:prompt").value == "waves at night"
    assert at.slider(key="grok-imagine-video:duration").value == 9
    assert at.radio(key="grok-imagine-video:aspect_ratio").value == "16:9"
    assert len(app_sandbox.state.tasks) == 1  # refilling never submits


def test_the_form_survives_visiting_another_page(app_sandbox: Sandbox) -> None:
    at = open_page("pages/video.py")
    at.text_area(key="grok-imagine-video:prompt").input("kept while I look around").run()
    at.slider(key="grok-imagine-video:duration").set_value(17).run()
    at.segmented_control(key="grok-imagine-video:count").set_value(3).run()
    assert at.button(key="grok-imagine-video:generate").label == "Generate 3 · 30 credits"
    at.switch_page("pages/history.py").run()
    at.switch_page("pages/video.py").run()
    assert at.text_area(key="grok-imagine-video:prompt").value == "kept while I look around"
    assert at.slider(key="grok-imagine-video:duration").value == 17
    # How many is not carried to the next visit's prompt: one take, as the button says.
    assert at.segmented_control(key="grok-imagine-video:count").value == 1
    assert at.button(key="grok-imagine-video:generate").label == "Generate · 10 credits"
    assert not at.exception


def test_home_shows_backend_balance_and_recent_results(app_sandbox: Sandbox) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    metrics = figures(at)
    assert metrics["Connected to"] == "Rivya API" and metrics["Credit balance"] == "1,000"
    links = [link.proto.label for link in at.get("page_link")]
    assert links[:2] == ["Make an image", "Make a video"]
    captions = [c.value for c in at.caption]
    assert "Grok Imagine · 4 credits" in captions and "Grok Imagine Video · 10 credits" in captions
    assert not at.info  # no demo banner with a key


def test_a_bad_key_gets_plain_words_not_a_traceback(point_app) -> None:
    with Sandbox() as sandbox:
        point_app(sandbox.url, "rvya_sk_not_a_real_key")
        at = AppTest.from_file(APP, default_timeout=30)
        at.run()
        assert not at.exception
        assert any("The API key was not accepted." in c.value for c in at.caption)
        shown = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "metric", "html") for e in at.get(kind)]
        assert shown and all("rvya_sk_not_a_real_key" not in str(v) for v in shown)


@pytest.mark.parametrize("page", ["pages/home.py", "pages/image.py", "pages/video.py", "pages/gallery.py", "pages/history.py"])
def test_a_page_run_reads_the_settings_twice_at_most(app_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
                                                     page: str) -> None:
    """The studio is opened by the frame and by the page's gate, then handed down: secrets and environment are
    read twice per run, not once for every block, callback and accessor that needs the backend."""
    import ui.services

    at = open_page(page)
    reads: list[None] = []
    load = ui.services.load_settings
    monkeypatch.setattr(ui.services, "load_settings", lambda secrets: reads.append(None) or load(secrets))
    at.run()
    assert not at.exception and 1 <= len(reads) <= 2, len(reads)
