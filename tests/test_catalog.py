"""The catalog holds the reference's facts, and ``validate`` reports every problem at once."""

from __future__ import annotations

import pytest

from rivya.catalog import MODELS, credits_for, describe_params, get_model, validate

VIDEO = "grok-imagine-video"
IMAGE = "grok-imagine"


def test_facts_match_the_reference() -> None:
    image, video = MODELS[IMAGE], MODELS[VIDEO]
    assert (image.base_credits, video.base_credits) == (4, 10)
    assert image.max_prompt_length == video.max_prompt_length == 5000
    assert image.defaults() == {"aspect_ratio": "1:1", "enable_pro": "false"}
    assert video.defaults() == {"mode": "normal", "duration": 6, "resolution": "480p", "aspect_ratio": "2:3"}
    duration = video.param("duration")
    assert (duration.minimum, duration.maximum, duration.step) == (6, 30, 1)
    assert image.param("enable_pro").options == ("false", "true")
    for spec in (image, video):
        assert spec.reference.max_files == 1
        assert spec.reference.max_bytes == 10 * 1024 * 1024
        assert spec.reference.mime_types == ("image/jpeg", "image/png", "image/webp")
    assert credits_for(VIDEO, {"duration": 30}) == 10


def test_defaults_are_valid() -> None:
    for spec in MODELS.values():
        assert validate(spec.id, "a lighthouse", spec.defaults()) == []


@pytest.mark.parametrize(
    ("prompt", "ok"),
    [("x" * 5000, True), ("x" * 5001, False), ("", False), ("   \n\t", False), (None, False), ("🦊" * 5000, True)],
)
def test_prompt_edges(prompt: str | None, ok: bool) -> None:
    problems = validate(IMAGE, prompt, {})
    assert (problems == []) is ok
    if not ok:
        assert len(problems) == 1 and ("required" in problems[0] or "5000" in problems[0])


@pytest.mark.parametrize(
    ("duration", "ok"), [(5, False), (6, True), (30, True), (31, False), (6.5, False), ("6", False), (True, False), (12.0, True)]
)
def test_duration_edges(duration: object, ok: bool) -> None:
    problems = validate(VIDEO, "waves", {"duration": duration})
    assert (problems == []) is ok
    if not ok:
        assert "duration" in problems[0]


def test_every_problem_is_listed_at_once() -> None:
    problems = validate(
        VIDEO,
        "",
        {
            "duration": 31,
            "mode": "wild",
            "enable_pro": "true",
            "colour": "red",
            "referenceMediaItems": [{"url": "https://a/1.png", "kind": "image"}, {"url": "https://a/2.png", "kind": "image"}],
        },
    )
    joined = " | ".join(problems)
    assert len(problems) == 4, problems
    assert "prompt is required" in joined
    assert "6 to 30" in joined
    assert '"fun", "normal", "spicy"' in joined and "'wild'" in joined
    assert "At most 1 reference image" in joined
    # Keys the catalog does not know (v1 may add optional params) are the service's to judge.
    assert "enable_pro" not in joined and "colour" not in joined


def test_option_not_in_list_and_enable_pro_as_bool() -> None:
    assert "must be one of" in validate(IMAGE, "p", {"aspect_ratio": "4:3"})[0]
    # The reference sends enable_pro as the string "false"/"true"; a JSON boolean is refused.
    assert "must be one of" in validate(IMAGE, "p", {"enable_pro": True})[0]


def test_reference_items_are_checked() -> None:
    assert (
        validate(IMAGE, "p", {"referenceMediaItems": [{"url": "https://x/a.png", "kind": "image", "mimeType": "image/png"}]})
        == []
    )
    assert "kind image" in validate(IMAGE, "p", {"referenceMediaItems": [{"url": "https://x/a.mp4", "kind": "video"}]})[0]
    assert (
        "JPEG, PNG or WebP"
        in validate(IMAGE, "p", {"referenceMediaItems": [{"url": "u", "kind": "image", "mimeType": "image/gif"}]})[0]
    )
    assert "needs the url" in validate(IMAGE, "p", {"referenceMediaItems": [{"kind": "image"}]})[0]
    assert "must be a list" in validate(IMAGE, "p", {"referenceMediaItems": "https://x/a.png"})[0]


def test_unknown_model() -> None:
    assert "Unknown model" in validate("dall-e", "p", {})[0]
    with pytest.raises(KeyError, match="known: grok-imagine"):
        get_model("dall-e")


def test_parameters_in_peoples_words() -> None:
    assert describe_params(IMAGE, {"aspect_ratio": "16:9", "enable_pro": "true"}) == "Aspect ratio 16:9 · Quality mode Quality"
    assert describe_params(VIDEO, {"duration": 8, "mode": "fun", "referenceMediaItems": [{}]}) == (
        "Duration 8 s · Mode Fun · reference image"
    )
    assert describe_params("other-model", {"seed": 3}) == "seed 3"


def test_a_category_without_a_typical_time_gets_the_one_fallback() -> None:
    """The panel's pace and the follower's order read one expected duration; a new kind of model gets the same one."""
    from rivya import constants
    from rivya.catalog import expected_seconds

    assert (expected_seconds("image"), expected_seconds("video")) == (10.0, 30.0)
    assert expected_seconds("audio") == constants.EXPECTED_SECONDS_OTHER == 20.0
