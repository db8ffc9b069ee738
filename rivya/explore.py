"""Explore: one prompt with ``{a|b}`` alternatives and up to two setting axes, planned as a grid of jobs.

A grid is planned from four facts (model, prompt as written, the fixed settings, the setting axes): the same facts
always give the same cells in the same order, so a grid kept in the log is redrawn from them alone, and cell ``n``
is the job with the idempotency key ``<grid id>-<n>`` (``cell_keys``).

Syntax of the prompt: ``{red|blue}`` is one axis; ``\\{``, ``\\}``, ``\\|`` and ``\\\\`` are a literal brace, bar
and backslash; any other backslash is kept as written. Alternatives are trimmed of surrounding spaces.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .catalog import MODELS, Param, credits_for, get_model, validate
from .constants import EXPLORE_LABEL_CHARS, MAX_GRID_JOBS, MAX_SETTING_AXES
from .errors import InvalidInputError

ESCAPED = frozenset("{}|\\")  # a backslash before one of these makes it literal
NOUNS = {"image": ("image", "images"), "video": ("video", "videos")}


class GridError(InvalidInputError):
    """A grid refused before anything was sent (its syntax, its size, a value the model refuses): ``problems``."""


@dataclass(frozen=True)
class Axis:
    """One thing a grid varies: a prompt choice (``key`` None) or a catalog parameter (``key`` its params key)."""

    name: str
    key: str | None
    values: tuple[Any, ...]  # the alternatives' text, or the API values
    labels: tuple[str, ...]  # in people's words, short enough for a grid's header


@dataclass(frozen=True)
class Cell:
    """One job of a grid: its prompt and settings, and where it sits (an index into each axis)."""

    prompt: str
    params: dict[str, Any]
    at: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    """A grid: its axes (prompt choices first, then settings) and every combination, the last axis fastest."""

    model: str
    prompt: str
    axes: tuple[Axis, ...]
    cells: tuple[Cell, ...]

    @property
    def credits(self) -> int:
        """The whole grid's price: each cell at its own price."""
        return sum(credits_for(self.model, cell.params) for cell in self.cells)

    def summary(self) -> str:
        """``3 × 2 × 2 = 12 images · 48 credits``: what the press makes and costs, in the form's words."""
        one, many = NOUNS.get(MODELS[self.model].category, ("job", "jobs"))
        count = len(self.cells)
        sizes = " × ".join(str(len(axis.values)) for axis in self.axes)
        made = f"{sizes} = {count} {many}" if len(self.axes) > 1 else f"{count} {one if count == 1 else many}"
        return f"{made} · {self.credits} credits"

    def cell_label(self, cell: Cell) -> str:
        """``red × 16:9``: the cell's values along every axis."""
        return " × ".join(axis.labels[i] for axis, i in zip(self.axes, cell.at, strict=True))


# -- the prompt ----------------------------------------------------------------------------------------------------

Part = str | tuple[str, ...]  # literal text, or one choice's alternatives


def parse_prompt(text: str) -> tuple[Part, ...]:
    """The prompt as literal text and choices; ``GridError`` names each problem in words."""
    parts: list[Part] = []
    literal: list[str] = []
    group: list[str] | None = None  # the alternatives of the open choice; its last entry is being written
    nested = 0  # braces opened inside the open choice (refused once), so their closing ones are not strays too
    problems: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            if following in ESCAPED:
                if group is None:
                    literal.append(following)
                else:
                    _extend(group, following)
                continue
            char = "\\" + following
        if group is None:
            if char == "{":
                parts.append("".join(literal))
                literal, group = [], [""]
            elif char == "}":
                problems.append("A closing brace } has no opening {. Write \\} for a brace in the prompt itself.")
            else:
                literal.append(char)
        elif char == "{":
            problems.append("Choices cannot be nested: close one {…} before opening another. Write \\{ for a brace.")
            nested += 1
        elif char == "}" and nested:
            nested -= 1
        elif char == "|":
            group.append("")
        elif char == "}":
            parts.append(tuple(a.strip() for a in group))
            group = None
        else:
            _extend(group, char)
    if group is not None:
        problems.append("A choice opened with { is never closed with }. Write \\{ for a brace in the prompt itself.")
    parts.append("".join(literal))
    problems.extend(_choice_problems([p for p in parts if isinstance(p, tuple)]))
    if problems:
        raise GridError(list(dict.fromkeys(problems)))
    return tuple(p for p in parts if p != "")


def _extend(group: list[str], text: str) -> None:
    group[-1] += text


def _choice_problems(choices: Sequence[tuple[str, ...]]) -> list[str]:
    problems = []
    for n, choice in enumerate(choices, start=1):
        shown = "{" + "|".join(choice) + "}"
        if any(not alternative for alternative in choice):
            problems.append(f"Choice {n} {shown} has an empty alternative: write something between each pair of |.")
        elif len(choice) < 2:
            problems.append(f"Choice {n} {shown} has one alternative: separate two or more with |, or write \\{{ for a brace.")
        elif len(set(choice)) < len(choice):
            problems.append(f"Choice {n} {shown} names an alternative twice: each would be the same job, paid twice.")
    return problems


def short_label(text: str) -> str:
    """An alternative as a grid's header: its first EXPLORE_LABEL_CHARS characters."""
    return text if len(text) <= EXPLORE_LABEL_CHARS else text[: EXPLORE_LABEL_CHARS - 1].rstrip() + "…"


# -- settings ------------------------------------------------------------------------------------------------------

def axis_params(model: str) -> tuple[Param, ...]:
    """The settings a grid may vary: every parameter the catalog lists for the model (a new one is an axis too)."""
    return get_model(model).params


def axis_choices(param: Param) -> tuple[Any, ...]:
    """The values offered along a setting axis: a select's options, or every step of a number's range."""
    if param.kind == "select":
        return param.options
    step = param.step or 1
    return tuple(range(int(param.minimum or 0), int(param.maximum or 0) + 1, step))


def value_label(param: Param, value: Any) -> str:
    """A setting's value in people's words: ``Quality``, ``16:9``, ``10 s``."""
    if param.kind == "select":
        return param.label_for(str(value))
    return f"{value}{param.unit and ' ' + param.unit}"


# -- the plan ------------------------------------------------------------------------------------------------------

def plan_grid(model: str, prompt: str, params: Mapping[str, Any], settings: Mapping[str, Sequence[Any]]) -> Plan:
    """Every cell of a grid, checked as the service would check each one; ``GridError`` before anything is sent.

    ``params`` are the fixed settings; ``settings`` maps up to MAX_SETTING_AXES parameter keys to the values to try
    (those override ``params``). Each cell's prompt and settings go through the catalog's own checks, so the
    5,000-character limit holds per cell and a value the model refuses is refused here.
    """
    spec = get_model(model)
    parts = parse_prompt(prompt)
    axes = [Axis("{" + "|".join(short_label(a) for a in p) + "}", None, p, tuple(short_label(a) for a in p))
            for p in parts if isinstance(p, tuple)]
    problems = _setting_problems(model, settings)
    if problems:
        raise GridError(problems)
    for key, values in settings.items():
        if (param := spec.param(key)) is not None:  # always: ``_setting_problems`` refused unknown keys
            axes.append(Axis(param.label, key, tuple(values), tuple(value_label(param, v) for v in values)))
    count = 1
    for axis in axes:
        count *= len(axis.values)
    if not axes or count < 2:
        raise GridError(["Explore needs something to vary: a choice such as {red|blue} in the prompt, or a setting "
                         "with two or more values."])
    if count > MAX_GRID_JOBS:
        raise GridError([f"This grid would make {count} jobs; one grid makes at most {MAX_GRID_JOBS}. "
                         "Remove an alternative or a setting value."])
    cells = tuple(_cell(parts, axes, params, at) for at in itertools.product(*(range(len(a.values)) for a in axes)))
    plan = Plan(model, prompt, tuple(axes), cells)
    for cell in cells:
        problems.extend(f"{plan.cell_label(cell)}: {p}" for p in validate(model, cell.prompt, cell.params))
    if problems:
        raise GridError(list(dict.fromkeys(problems)))
    return plan


def _setting_problems(model: str, settings: Mapping[str, Sequence[Any]]) -> list[str]:
    spec = get_model(model)
    problems = []
    if len(settings) > MAX_SETTING_AXES:
        problems.append(f"A grid varies at most {MAX_SETTING_AXES} settings; {len(settings)} were chosen.")
    for key, values in settings.items():
        param = spec.param(key)
        if param is None:
            problems.append(f"{spec.display_name} has no setting {key!r} to vary.")
        elif len(values) < 2:
            problems.append(f"Choose two or more values of {param.label} to vary it, or stop varying it.")
        elif len(set(map(repr, values))) < len(values):
            problems.append(f"{param.label} lists a value twice: each would be the same job, paid twice.")
    return problems


def _cell(parts: Sequence[Part], axes: Sequence[Axis], params: Mapping[str, Any], at: tuple[int, ...]) -> Cell:
    picks = iter(at)
    words = [part if isinstance(part, str) else part[next(picks)] for part in parts]
    settings = dict(params)
    for axis, i in zip(axes, at, strict=True):
        if axis.key is not None:
            settings[axis.key] = axis.values[i]
    return Cell("".join(words), settings, at)


def cell_keys(grid_id: str, count: int) -> list[str]:
    """The idempotency key of each cell, in the plan's order: cell ``n`` (from 1) is ``<grid id>-<n>``."""
    return [f"{grid_id}-{n}" for n in range(1, count + 1)]
