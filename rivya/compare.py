"""Compare: what differs between a few results, settings by name and prompts word by word."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from .catalog import MODELS, REFERENCE_ITEMS_KEY, Param, display_name
from .constants import RELATED_PROMPTS
from .tasklog import Job

Op = Literal["equal", "delete", "insert"]


@dataclass(frozen=True)
class SettingRow:
    """One setting across the compared results, in people's words.

    ``values[i]`` is result i's value as shown (``None``: its model has no such setting); ``compared[i]`` is
    the value compared (the catalog's default when the job did not send the setting: the service used it).
    """

    name: str
    label: str
    values: tuple[str | None, ...]
    compared: tuple[str | None, ...]

    @property
    def differs(self) -> bool:
        """Two results that both have this setting hold different values; a model without it is no difference."""
        return len({c for c in self.compared if c is not None}) > 1


def _raw(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(param: Param | None, raw: str) -> str:
    if param is None:
        return raw
    if param.kind == "select":
        return param.label_for(raw)
    return f"{raw}{param.unit and ' ' + param.unit}"


def _catalog_params(jobs: list[Job]) -> list[Param]:
    """Every catalog parameter of the compared models, in the first model's order, each key once."""
    params: dict[str, Param] = {}
    for job in jobs:
        spec = MODELS.get(job.model)
        for param in spec.params if spec else ():
            params.setdefault(param.key, param)
    return list(params.values())


def _param_row(key: str, label: str, jobs: list[Job]) -> SettingRow:
    shown: list[str | None] = []
    compared: list[str | None] = []
    for job in jobs:
        spec = MODELS.get(job.model)
        param = spec.param(key) if spec else None
        if key in job.params:
            raw: str | None = _raw(job.params[key])
        elif param is not None:
            raw = _raw(param.default)
        else:
            raw = None  # the model has no such setting (or the catalog does not know the key and it was not sent)
        compared.append(raw)
        shown.append(None if raw is None else _shown(param, raw))
    return SettingRow(key, label, tuple(shown), tuple(compared))


def settings_diff(jobs: list[Job]) -> list[SettingRow]:
    """Model, each catalog setting of the compared models, a reference image (when any has one), then any
    parameter the catalog does not know, each labelled as the forms label it, with its value per job.
    """
    models = tuple(display_name(j.model) for j in jobs)
    rows = [SettingRow("model", "Model", models, models)]
    known = _catalog_params(jobs)
    rows += [_param_row(p.key, p.label, jobs) for p in known]
    if any(REFERENCE_ITEMS_KEY in j.params for j in jobs):
        has = tuple("yes" if j.params.get(REFERENCE_ITEMS_KEY) else "no" for j in jobs)
        rows.append(SettingRow(REFERENCE_ITEMS_KEY, "Reference image", has, has))
    others: list[str] = []
    for job in jobs:
        others += [k for k in job.params if k not in others and k != REFERENCE_ITEMS_KEY and k not in {p.key for p in known}]
    rows += [_param_row(key, key.replace("_", " ").capitalize(), jobs) for key in others]
    return rows


def prompt_diff(a: str, b: str) -> list[tuple[Op, str]]:
    """How prompt ``b`` differs from ``a``, word by word: runs of ``(op, words)`` in reading order.

    ``equal`` words are in both, ``delete`` only in ``a``, ``insert`` only in ``b`` (a replaced run is a
    delete then an insert). Words are split on whitespace and compared exactly, so "Fox" and "fox" differ.
    """
    old, new = a.split(), b.split()
    runs: list[tuple[Op, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            runs.append(("equal", " ".join(old[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("delete", " ".join(old[i1:i2])))
        if j2 > j1:
            runs.append(("insert", " ".join(new[j1:j2])))
    return runs


def prompt_similarity(a: str, b: str) -> float:
    """How much two prompts share, word by word, from 0 (nothing) to 1 (the same words in the same order):
    ``difflib``'s ratio over words compared case-insensitively, so "Fox" and "fox" count as shared here."""
    old, new = a.casefold().split(), b.casefold().split()
    if not old and not new:
        return 1.0
    return difflib.SequenceMatcher(a=old, b=new, autojunk=False).ratio()


def related(a: str, b: str) -> bool:
    """Whether a word diff of these prompts helps: one is a variation of the other (``RELATED_PROMPTS`` or more
    shared). Between unrelated prompts a diff strikes out every word and helps nobody."""
    return prompt_similarity(a, b) >= RELATED_PROMPTS


def same_scale_widths(sizes: list[tuple[int, int]], column_px: int) -> list[int]:
    """Display widths that show every result at one scale (pixels per pixel), the widest filling its column.

    A 1536-pixel quality-mode image beside a 1024-pixel one is drawn 1.5 times as wide, as it is.
    """
    widest = max((w for w, _ in sizes), default=0)
    if widest <= 0:
        return [column_px for _ in sizes]
    scale = column_px / widest
    return [max(1, round(w * scale)) for w, _ in sizes]
