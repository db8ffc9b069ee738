"""The two Grok Imagine models as data, exactly as the reference gives them.

The forms on the Image and Video pages, the client-side checks and the sandbox's
validation all read this one catalog, so a new model or parameter is an entry here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from . import constants

REFERENCE_ITEMS_KEY = "referenceMediaItems"


@dataclass(frozen=True)
class Param:
    """One key of ``params``. ``kind`` is ``select`` (one of ``options``) or ``number``."""

    key: str
    label: str
    kind: str
    default: Any
    help: str
    options: tuple[str, ...] = ()
    option_labels: dict[str, str] = field(default_factory=dict)
    minimum: int | None = None
    maximum: int | None = None
    step: int | None = None
    unit: str = ""
    # Some controls only mean something without a reference image (reference section 11).
    text_only: bool = False

    def label_for(self, option: str) -> str:
        return self.option_labels.get(option, option)


@dataclass(frozen=True)
class ReferenceRule:
    """What ``params.referenceMediaItems`` may hold for a model."""

    max_files: int = 1
    kinds: tuple[str, ...] = ("image",)
    max_bytes: int = 10 * 1024 * 1024
    mime_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")


@dataclass(frozen=True)
class ModelSpec:
    """A model's contract: prompt limit, price and parameters."""

    id: str
    display_name: str
    category: str
    base_credits: int
    max_prompt_length: int
    params: tuple[Param, ...]
    reference: ReferenceRule
    prompt_required: bool = True
    billing_type: str = "FIXED"
    # Results one task makes: both model pages describe one image or one video per request, and nothing documents
    # more, so a reply listing more links is not a bigger result (the studio keeps this many, ``rivya.results``).
    outputs: int = 1

    def param(self, key: str) -> Param | None:
        return next((p for p in self.params if p.key == key), None)

    def defaults(self) -> dict[str, Any]:
        return {p.key: p.default for p in self.params}

    def known_keys(self) -> tuple[str, ...]:
        """Every ``params`` key this catalog checks; others pass through unchecked."""
        return (*(p.key for p in self.params), REFERENCE_ITEMS_KEY)


_ASPECT_RATIO_HELP = "Shape of the result, width:height."

MODELS: dict[str, ModelSpec] = {
    spec.id: spec
    for spec in (
        ModelSpec(
            id="grok-imagine",
            display_name="Grok Imagine",
            category="image",
            base_credits=4,
            max_prompt_length=5000,
            params=(
                Param(
                    key="aspect_ratio",
                    label="Aspect ratio",
                    kind="select",
                    default="1:1",
                    options=("1:1", "2:3", "3:2", "16:9", "9:16"),
                    help=_ASPECT_RATIO_HELP,
                ),
                Param(
                    key="enable_pro",
                    label="Quality mode",
                    kind="select",
                    # Sent as the strings "false"/"true", as the reference's example does.
                    default="false",
                    options=("false", "true"),
                    option_labels={"false": "Standard", "true": "Quality"},
                    help="Standard is cheaper; Quality favours detail. Text-to-image only.",
                    text_only=True,
                ),
            ),
            reference=ReferenceRule(),
        ),
        ModelSpec(
            id="grok-imagine-video",
            display_name="Grok Imagine Video",
            category="video",
            base_credits=10,
            max_prompt_length=5000,
            params=(
                Param(
                    key="mode",
                    label="Mode",
                    kind="select",
                    default="normal",
                    options=("fun", "normal", "spicy"),
                    option_labels={"fun": "Fun", "normal": "Normal", "spicy": "Spicy"},
                    # The reference says only "generation mode"; the words below are xAI's for its Grok Imagine modes.
                    help="The video's style. Normal: balanced, follows the prompt. Fun: playful, exaggerated. "
                         "Spicy: bolder, more suggestive results that can include mature content; the service may "
                         "still moderate or refuse them.",
                ),
                Param(
                    key="duration",
                    label="Duration",
                    kind="number",
                    default=6,
                    minimum=6,
                    maximum=30,
                    step=1,
                    unit="s",
                    help="Length of the video in whole seconds, 6 to 30.",
                ),
                Param(
                    key="resolution",
                    label="Resolution",
                    kind="select",
                    default="480p",
                    options=("480p", "720p"),
                    help="Height of the shorter side of the video.",
                ),
                Param(
                    key="aspect_ratio",
                    label="Aspect ratio",
                    kind="select",
                    default="2:3",
                    options=("1:1", "16:9", "9:16", "2:3", "3:2"),
                    help=_ASPECT_RATIO_HELP,
                ),
            ),
            reference=ReferenceRule(),
        ),
    )
}


def get_model(model_id: str) -> ModelSpec:
    """The catalog entry for ``model_id``; ``KeyError`` with the known ids if absent."""
    try:
        return MODELS[model_id]
    except KeyError:
        raise KeyError(f"unknown model {model_id!r}; known: {', '.join(MODELS)}") from None


def credits_for(model_id: str, params: dict[str, Any] | None = None) -> int:
    """Credits one job costs. Both models bill FIXED at their base price (reference 11, 12)."""
    return get_model(model_id).base_credits


def describe_params(model_id: str, params: dict[str, Any]) -> str:
    """Parameters in people's words, e.g. ``Aspect ratio 16:9 · Quality mode Standard · reference image``."""
    spec = MODELS.get(model_id)
    parts = []
    for key, value in params.items():
        if key == REFERENCE_ITEMS_KEY:
            parts.append("reference image")
            continue
        param = spec.param(key) if spec else None
        if param is None:
            parts.append(f"{key} {value}")
        elif param.kind == "select":
            parts.append(f"{param.label} {param.label_for(str(value))}")
        else:
            parts.append(f"{param.label} {value}{param.unit and ' ' + param.unit}")
    return " · ".join(parts)


def _is_whole_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and float(value).is_integer()


def _check_param(param: Param, value: Any) -> str | None:
    if param.kind == "select":
        if not isinstance(value, str) or value not in param.options:
            choices = ", ".join(f'"{o}"' for o in param.options)
            return f"{param.label} ({param.key}) must be one of {choices}; got {value!r}."
        return None
    if not _is_whole_number(value):
        got = f'the text "{value}"' if isinstance(value, str) else repr(value)
        return f"{param.label} ({param.key}) must be a whole number from {param.minimum} to {param.maximum}; got {got}."
    if not param.minimum <= value <= param.maximum:  # type: ignore[operator]
        return (
            f"{param.label} ({param.key}) must be from {param.minimum} to {param.maximum}"
            f"{param.unit and ' ' + param.unit}; got {value:g}."
        )
    if param.step and (value - param.minimum) % param.step:  # type: ignore[operator]
        return f"{param.label} ({param.key}) must go in steps of {param.step}; got {value:g}."
    return None


def _check_references(rule: ReferenceRule, items: Any) -> list[str]:
    if not isinstance(items, list):
        return [f"{REFERENCE_ITEMS_KEY} must be a list of uploaded files."]
    problems: list[str] = []
    if len(items) > rule.max_files:
        problems.append(
            f"At most {rule.max_files} reference image{'s' if rule.max_files != 1 else ''} can be attached; got {len(items)}."
        )
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str) or not item["url"]:
            problems.append(f"Reference {n} needs the url returned by the Files API.")
            continue
        if item.get("kind") not in rule.kinds:
            problems.append(f"Reference {n} must be of kind {' or '.join(rule.kinds)}; got {item.get('kind')!r}.")
        mime = item.get("mimeType")
        if mime is not None and mime not in rule.mime_types:
            problems.append(f"Reference {n} must be JPEG, PNG or WebP; got {mime!r}.")
    return problems


def validate(model_id: str, prompt: Any, params: dict[str, Any] | None = None) -> list[str]:
    """Every problem with a request, in plain words; an empty list means it may be sent.

    Keys the catalog does not know are not problems: the reference's versioning rule lets v1
    add optional parameters, so only the service can refuse them.
    """
    spec = MODELS.get(model_id) if isinstance(model_id, str) else None
    if spec is None:
        return [f"Unknown model {model_id!r}. Available: {', '.join(MODELS)}."]
    problems: list[str] = []
    if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
        if spec.prompt_required:
            problems.append("A prompt is required: describe what you want to see.")
    elif not isinstance(prompt, str):
        problems.append("The prompt must be text.")
    elif len(prompt) > spec.max_prompt_length:
        # Length in Unicode code points; the reference does not say how it counts.
        problems.append(
            f"The prompt is {len(prompt)} characters; {spec.display_name} accepts at most "
            f"{spec.max_prompt_length}. Shorten it by {len(prompt) - spec.max_prompt_length}."
        )
    if params is None:
        return problems
    if not isinstance(params, dict):
        return [*problems, "params must be an object of parameter names to values."]
    for key, value in params.items():
        if key == REFERENCE_ITEMS_KEY:
            problems.extend(_check_references(spec.reference, value))
            continue
        param = spec.param(key)
        if param is None:
            continue  # v1 may add optional params; the client passes unknown ones through with a warning
        problem = _check_param(param, value)
        if problem:
            problems.append(problem)
    return problems


def expected_seconds(category: str) -> float:
    """How long a job of ``category`` usually takes, before any has finished here (the one fallback for all)."""
    return constants.EXPECTED_SECONDS.get(category, constants.EXPECTED_SECONDS_OTHER)


def display_name(model: str) -> str:
    """The model's name for people; a model this catalog no longer holds keeps its id."""
    return MODELS[model].display_name if model in MODELS else model
