"""The Explore page under AppTest on a real sandbox and log: plain words for a grid that cannot be made or found,
nothing sent; the wallet checked for the whole grid; a press shows its grid."""

from __future__ import annotations

import shutil
from pathlib import Path

from rivya.constants import MAX_GRID_JOBS
from rivya.presets import list_presets
from rivya.sandbox import Sandbox
from ui.services import get_studio

from .conftest import creates, open_page
from .test_outage import assert_outage_page, errors

PAGE = "pages/explore.py"
PROMPT = "grok-imagine:prompt"
GO = "explore:grok-imagine:go"


def test_a_grid_past_the_bound_is_refused_in_words_with_the_button_off(app_sandbox: Sandbox) -> None:
    at = open_page(PAGE)
    many = "{" + "|".join(f"colour {n}" for n in range(MAX_GRID_JOBS + 1)) + "}"
    at.text_area(key=f"explore:{PROMPT}").input(f"a {many} kettle").run()
    assert at.warning[0].value.startswith(f"This grid would make {MAX_GRID_JOBS + 1} jobs; one grid makes at most "
                                          f"{MAX_GRID_JOBS}.")
    assert at.button(key=GO).disabled and not at.exception
    at.text_area(key=f"explore:{PROMPT}").input("a {red|{blue} kettle").run()
    assert "cannot be nested" in at.warning[0].value and at.button(key=GO).disabled
    assert creates(app_sandbox) == []


def test_a_press_the_wallet_cannot_pay_sends_nothing_then_a_paid_one_shows_its_grid(app_sandbox: Sandbox) -> None:
    app_sandbox.set_credits(7)
    at = open_page(PAGE)
    at.text_area(key=f"explore:{PROMPT}").input("a {red|blue} kettle").run()
    assert any("2 images · 8 credits" in m.value for m in at.markdown)
    at.button(key=GO).click().run()
    assert "These 2 jobs cost 8 credits but the wallet holds 7" in at.error[0].value and creates(app_sandbox) == []
    app_sandbox.set_credits(100)
    at.text_area(key=f"explore:{PROMPT}").input("a {red|blue} kettle, topped up").run()  # the same form at once: a double click
    at.button(key=GO).click().run()
    assert len(creates(app_sandbox)) == 2 and str(at.query_params["grid"]).startswith("studio-")
    assert not at.error and not at.exception
    assert any(m.value == "**red**" for m in at.markdown) and any(m.value == "**blue**" for m in at.markdown)


def test_an_unknown_grid_link_says_so(app_sandbox: Sandbox) -> None:
    at = open_page(PAGE)
    at.query_params["grid"] = "studio-nothing-here"
    at.run()
    assert "This grid is not kept here" in at.info[0].value and not at.exception


def test_the_video_model_offers_its_own_settings_as_axes(app_sandbox: Sandbox) -> None:
    """Every setting comes from the catalog: a model's parameters are the page's axes, with no page code of their own."""
    at = open_page(PAGE)
    at.segmented_control(key="explore:model").set_value("grok-imagine-video").run()
    video = "explore:grok-imagine-video"
    assert [str(o) for o in at.multiselect(key=f"{video}:duration").options] == [f"{n} s" for n in range(6, 31)]
    at.text_area(key=f"{video}:prompt").input("a fox").run()
    at.pills(key=f"{video}:mode").set_value(["fun", "spicy"]).run()
    at.pills(key=f"{video}:resolution").set_value(["480p", "720p"]).run()
    assert any("2 × 2 = 4 videos · 40 credits" in m.value for m in at.markdown)
    at.multiselect(key=f"{video}:duration").set_value([6, 10]).run()  # a third setting varied: refused in words
    assert at.warning[0].value == "A grid varies at most 2 settings; 3 were chosen." and at.button(key=f"{video}:go").disabled
    assert creates(app_sandbox) == [] and not at.exception


def test_a_press_while_the_log_is_gone_sends_nothing_and_the_page_keeps_its_frame(
    app_sandbox: Sandbox, tmp_path: Path
) -> None:
    at = open_page(PAGE)
    at.text_area(key=f"explore:{PROMPT}").input("a {red|blue} kettle without its log").run()
    path = get_studio().log.db.path
    assert path is not None and path.exists()
    aside = tmp_path / "aside.sqlite3"
    shutil.move(path, aside)
    at.button(key=GO).click().run()  # the button was drawn before the file went
    assert "Nothing was sent or charged" in errors(at)
    assert_outage_page(at, "Explore")
    assert at.button(key=GO).disabled and not creates(app_sandbox) and not path.exists()
    assert "Grids show here again once the job log can be reached." in [c.value for c in at.caption]
    shutil.move(aside, path)
    at.run()
    assert not at.exception and not at.button(key=GO).disabled


def test_a_cell_saved_as_preset_is_said_once_and_listed_for_its_model(app_sandbox: Sandbox) -> None:
    """Save as preset acts in its callback (a run of the page that follows a wake keeps it: ui/live.py), and its
    words show once."""
    at = open_page(PAGE)
    at.text_area(key=f"explore:{PROMPT}").input("a {red|blue} kettle to keep").run()
    at.button(key=GO).click().run()
    at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Cell")).set_value(1)
    at.text_input(key=next(t.key for t in at.text_input if t.label == "Preset name")).input("Blue kettle")
    next(b for b in at.button if b.label == "Save as preset").click().run()
    assert at.success[0].value.startswith("Saved “Blue kettle”. It is listed under Presets on the") and not at.exception
    saved = [p for p in list_presets(get_studio().log, "grok-imagine") if p.name == "Blue kettle"]
    assert [p.prompt for p in saved] == ["a blue kettle to keep"]
    at.run()
    assert not at.success  # said once
    next(b for b in at.button if b.label == "Save as preset").click().run()  # the same name again: refused in words
    assert at.error and not at.success and not at.exception
