"""Compare: settings and prompt differences (pure, and of jobs read back from either engine's log), and the Compare
dialog from the Gallery under AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest

from rivya import stars
from rivya.compare import prompt_diff, prompt_similarity, related, same_scale_widths, settings_diff
from rivya.tasklog import TaskLog

from .conftest import open_page
from .test_gallery import add_result, is_on, pick, seeded_app  # noqa: F401 - the fixture is used by name


def test_prompt_diff_word_by_word() -> None:
    assert prompt_diff("a red fox at dawn", "a red fox at dawn") == [("equal", "a red fox at dawn")]
    assert prompt_diff("a red fox at dawn", "a blue fox at dusk, misty") == [
        ("equal", "a"), ("delete", "red"), ("insert", "blue"), ("equal", "fox at"), ("delete", "dawn"),
        ("insert", "dusk, misty"),
    ]
    assert prompt_diff("", "new words") == [("insert", "new words")]
    assert prompt_diff("old words", "") == [("delete", "old words")]
    assert prompt_diff("Fox", "fox") == [("delete", "Fox"), ("insert", "fox")]  # exact words


@pytest.mark.parametrize("a, b", [
    ("a cat on a mat", "the cat sat on the mat today"),
    ("one two three four", "four three two one"),
    ("  spaced   out\twords ", "spaced words out"),
])
def test_prompt_diff_rebuilds_both_prompts(a: str, b: str) -> None:
    runs = prompt_diff(a, b)
    assert " ".join(w for op, w in runs if op != "insert").split() == a.split()
    assert " ".join(w for op, w in runs if op != "delete").split() == b.split()


def test_settings_diff_marks_what_differs(tmp_path: Path, log_location: Path | str) -> None:
    log = TaskLog(log_location)
    a = add_result(log, tmp_path / "m", "a", params={"aspect_ratio": "16:9", "enable_pro": "false"})
    b = add_result(log, tmp_path / "m", "b", params={"aspect_ratio": "1:1", "enable_pro": "false"})
    c = add_result(log, tmp_path / "m", "c", model="grok-imagine-video", params={"aspect_ratio": "16:9", "duration": 6})
    rows = {r.name: r for r in settings_diff([a, b])}
    assert list(rows) == ["model", "aspect_ratio", "enable_pro"]
    assert [r.label for r in rows.values()] == ["Model", "Aspect ratio", "Quality mode"]  # the catalog's words
    assert rows["aspect_ratio"].values == ("16:9", "1:1") and rows["aspect_ratio"].differs
    assert rows["enable_pro"].values == ("Standard", "Standard") and not rows["enable_pro"].differs
    assert not rows["model"].differs
    rows = {r.name: r for r in settings_diff([a, c])}
    assert rows["model"].differs and rows["model"].values == ("Grok Imagine", "Grok Imagine Video")
    # A setting one model does not have is shown as missing (None) and is no difference.
    assert rows["duration"].values == (None, "6 s") and not rows["duration"].differs
    assert rows["mode"].values == (None, "Normal") and not rows["mode"].differs  # not sent: the catalog's default
    assert rows["enable_pro"].values == ("Standard", None) and not rows["enable_pro"].differs
    assert not rows["aspect_ratio"].differs
    assert [r.name for r in settings_diff([a, c]) if r.differs] == ["model"]
    log.close()


def test_settings_diff_shows_a_reference_as_yes_or_no(tmp_path: Path, log_location: Path | str) -> None:
    log = TaskLog(log_location)
    ref = [{"url": "http://127.0.0.1:1/files/content/file_x", "kind": "image", "name": "a.png", "mimeType": "image/png"}]
    plain = add_result(log, tmp_path / "m", "a", params={"aspect_ratio": "1:1"})
    made_from = add_result(log, tmp_path / "m", "b", params={"aspect_ratio": "1:1", "referenceMediaItems": ref})
    rows = {r.name: r for r in settings_diff([plain, made_from])}
    assert rows["referenceMediaItems"].label == "Reference image"
    assert rows["referenceMediaItems"].values == ("no", "yes") and rows["referenceMediaItems"].differs
    assert "referenceMediaItems" not in {r.name for r in settings_diff([plain, plain])}
    log.close()


def test_same_scale_widths() -> None:
    assert same_scale_widths([(1536, 1536), (1024, 1024)], 300) == [300, 200]
    assert same_scale_widths([(1024, 576), (576, 1024)], 400) == [400, 225]
    assert same_scale_widths([(0, 0), (0, 0)], 250) == [250, 250]


def test_compare_a_video_with_an_image_marks_only_the_model(seeded_app) -> None:  # noqa: F811 - the fixture
    log, made = seeded_app
    ref = [{"url": "http://127.0.0.1:1/files/content/file_x", "kind": "image", "name": "a.png", "mimeType": "image/png"}]
    clip = add_result(log, log.path.parent / "media", "a clip", model="grok-imagine-video",
                      params={"mode": "normal", "duration": 6, "resolution": "480p", "aspect_ratio": "1:1",
                              "referenceMediaItems": ref})
    at = open_page("pages/gallery.py")
    pick(at, clip.id)
    pick(at, made[-1].id)
    at.button(key="gallery:compare").click().run()
    assert not at.exception
    texts = [m.value for m in at.markdown]
    assert any(c.value == "Different: Model, Reference image" for c in at.caption)  # unrelated prompts: no word marks
    assert ":orange-background[**Model: Grok Imagine Video**]" in texts
    assert ":gray[Duration: 6 s]" in texts and ":gray[Duration: —]" in texts  # the image model has no duration
    assert ":orange-background[**Reference image: yes**]" in texts
    assert not any("http" in t or "referenceMediaItems" in t for t in texts)  # never the reference's address


def test_compare_from_the_gallery(seeded_app) -> None:  # noqa: F811 - the fixture
    _, made = seeded_app
    at = open_page("pages/gallery.py")
    bar_buttons = {b.key for b in at.button} & {"gallery:compare", "gallery:clear"}
    assert not bar_buttons  # nothing picked: the bar's words say what a Pick brings
    pick(at, made[-1].id)
    assert at.button(key="gallery:compare").disabled  # one is not enough
    pick(at, made[-2].id)
    at.button(key="gallery:compare").click().run()
    assert not at.exception
    texts = [m.value for m in at.markdown]
    assert "picture number 29" in texts  # the first as written
    assert "picture number :red[~~29~~] :green-background[28]" in texts  # the second, diffed against it
    assert ":gray[Aspect ratio: 1\\:1]" in texts and not any("aspect_ratio" in t or "not set" in t for t in texts)
    for n in (-3, -4, -5):
        pick(at, made[n].id)
    assert at.button(key="gallery:compare").disabled  # five is too many
    at.button(key="gallery:clear").click().run()
    assert not is_on(at, made[-1].id, "pick")


def test_related_prompts_threshold() -> None:
    assert related("a lighthouse on a cliff at dawn, watercolor", "a misty lighthouse on a cliff at dusk, watercolor")
    assert related("picture number 29", "picture number 28")
    assert related("A Red Fox", "a red fox, photo")  # case does not make words different here
    assert not related("a cat on the sofa", "a dog in the park at night")  # only "a" and "the" shared
    assert not related("a red fox in fresh snow, photo", "a tiny robot watering a plant")
    assert prompt_similarity("", "") == 1.0 and prompt_similarity("fox", "") == 0.0


def test_compare_offers_star_and_open_and_diffs_only_related_prompts(seeded_app) -> None:  # noqa: F811 - the fixture
    log, made = seeded_app
    robot = add_result(log, log.path.parent / "media", "a tiny robot watering a plant")
    at = open_page("pages/gallery.py")
    for job in (made[-1], made[-2], robot):  # the first picked is the one the others are diffed against
        pick(at, job.id)
    at.button(key="gallery:compare").click().run()
    texts = [m.value for m in at.markdown]
    assert "picture number :red[~~29~~] :green-background[28]" in texts  # related: its words marked
    assert "a tiny robot watering a plant" in texts and not any("robot" in t and "~~" in t for t in texts)
    at.button(key=f"compare:open:{made[-2].id}").click().run()
    assert at.query_params["job"] == str(made[-2].id) and any(c.value == made[-2].prompt for c in at.code)
    # AppTest reruns the whole page on a press (a browser reruns only the dialog): compare again to press Star.
    at = open_page("pages/gallery.py")
    for job in (made[-1], robot):
        pick(at, job.id)
    at.button(key="gallery:compare").click().run()
    at.button(key=f"compare:star:{robot.id}").click().run()
    assert robot.id in stars.starred(log, [robot.id], "")
