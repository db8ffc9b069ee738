"""Explore's grids in the log: written with their jobs in one transaction, read back as a labelled grid.

A grid row keeps only what ``rivya.explore.plan_grid`` needs (model, prompt as written, fixed settings, setting
axes), so a grid reopened by link is planned anew and each cell found by its key (``explore.cell_keys``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .constants import GRID_ID_CHARS
from .database import Transaction
from .explore import Plan, cell_keys, plan_grid
from .people import Person
from .tasklog import Job, TaskLog, utc_now


@dataclass(frozen=True)
class GridRecord:
    """A grid as the log keeps it: ``plan`` redraws it, ``jobs`` holds each cell's job (None: never logged)."""

    id: str
    plan: Plan
    person_name: str | None
    created_at: str
    jobs: tuple[Job | None, ...]


@dataclass(frozen=True)
class GridSummary:
    """One line of the list of kept grids."""

    id: str
    model: str
    prompt: str
    cells: int
    person_name: str | None
    created_at: str


def recorder(grid_id: str, plan: Plan, params: Mapping[str, Any], settings: Mapping[str, Sequence[Any]],
             person: Person | None) -> Callable[[Transaction], None]:
    """Write the grid's row inside the press's transaction (``Submitter.submit_takes(record=...)``); a replay of
    the same press finds it written and leaves it."""

    def record(db: Transaction) -> None:
        db.execute(
            "INSERT INTO grids (id, model, prompt, params, axes, cells, person, person_name, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (grid_id, plan.model, plan.prompt, json.dumps(dict(params)),
             json.dumps({key: list(values) for key, values in settings.items()}), len(plan.cells),
             person.id if person else None, person.name if person else None, utc_now()),
        )

    return record


def get_grid(log: TaskLog, grid_id: str) -> GridRecord | None:
    """The grid and its cells' jobs; None for an unknown id, or a row that can no longer be planned (a model or value
    since removed from the catalog, a row edited by hand), which cannot be drawn as a grid."""
    if not grid_id or len(grid_id) > GRID_ID_CHARS:
        return None
    rows = log.read("SELECT id, model, prompt, params, axes, person_name, created_at FROM grids WHERE id = ?",
                    (grid_id,))
    if not rows:
        return None
    row = rows[0]
    try:
        plan = plan_grid(row[1], row[2], json.loads(row[3]), json.loads(row[4]))
    except (ValueError, KeyError, TypeError, AttributeError):  # GridError is a ValueError; so is unreadable JSON
        return None
    by_key = {job.idempotency_key: job for job in log.where("grid_id = ?", (grid_id,), limit=len(plan.cells) + 1)}
    jobs = tuple(by_key.get(key) for key in cell_keys(grid_id, len(plan.cells)))
    return GridRecord(row[0], plan, row[5], row[6], jobs)


def recent_grids(log: TaskLog, *, limit: int = 20) -> list[GridSummary]:
    """The newest kept grids, newest first."""
    rows = log.read("SELECT id, model, prompt, cells, person_name, created_at FROM grids "
                    "ORDER BY created_at DESC, id LIMIT ?", (limit,))
    return [GridSummary(r[0], r[1], r[2], int(r[3]), r[4], r[5]) for r in rows]
