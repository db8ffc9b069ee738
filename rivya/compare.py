"""Compare: what differs between a few results, settings by name and prompts word by word."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from .catalog import MODELS
from .tasklog import Job

MIN_COMPARED, MAX_COMPARED = 2, 4
Op = Literal["equal", "delete", "insert"]


@dataclass(frozen=True)
class SettingRow:
    """One setting across the compared results; ``values[i]`` is result i's (``None``: it has no such setting)."""

    name: str
    values: tuple[str | None, ...]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def _shown(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def settings_diff(jobs: list[Job]) -> list[SettingRow]:
    """Model, then every parameter any of ``jobs`` set (in first-seen order), each with its value per job.

    A parameter one job lacks counts as different: the service's default may not be what the other one set.
    """
    names: list[str] = []
    for job in jobs:
        names += [k for k in job.params if k not in names]
    rows = [SettingRow("model", tuple(MODELS[j.model].display_name if j.model in MODELS else j.model for j in jobs))]
    rows += [SettingRow(n, tuple(_shown(j.params[n]) if n in j.params else None for j in jobs)) for n in names]
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


def same_scale_widths(sizes: list[tuple[int, int]], column_px: int) -> list[int]:
    """Display widths that show every result at one scale (pixels per pixel), the widest filling its column.

    A 1536-pixel quality-mode image beside a 1024-pixel one is drawn 1.5 times as wide, as it is.
    """
    widest = max((w for w, _ in sizes), default=0)
    if widest <= 0:
        return [column_px for _ in sizes]
    scale = column_px / widest
    return [max(1, round(w * scale)) for w, _ in sizes]
