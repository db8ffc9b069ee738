"""Presets: a prompt and settings saved under a name, shared by the whole team, in the task log's database.

A preset belongs to one model. The ones the team starred most (stars on results made from a
preset, ``jobs.preset_id``) are listed first. A few starting presets ship with the app; each is
inserted once, and a marker remembers it, so a preset the team deleted never comes back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .catalog import MODELS, REFERENCE_ITEMS_KEY, validate
from .constants import PRESET_NAME_MAX_CHARS
from .database import IntegrityError, Row
from .people import Person
from .tasklog import TaskLog, utc_now


class PresetError(ValueError):
    """A preset could not be saved, renamed or found; ``str()`` is a sentence for the person."""


class PresetNameTaken(PresetError):
    def __init__(self, name: str) -> None:
        super().__init__(f"A preset named “{name}” already exists. Pick another name.")


class PresetNotFound(PresetError):
    def __init__(self, preset_id: int) -> None:
        super().__init__("That preset no longer exists (someone may have deleted it).")
        self.preset_id = preset_id


@dataclass(frozen=True)
class Preset:
    id: int
    name: str
    model: str
    prompt: str
    params: dict[str, Any]
    created_by: str | None
    created_at: str
    updated_at: str
    builtin: bool
    stars: int = 0

    def matches(self, model: str, prompt: str, params: dict[str, Any]) -> bool:
        """True while the form still holds this preset's prompt and settings (a job made so records the preset).

        A setting the form does not send (``Quality mode`` with a reference attached) is not compared.
        """
        if model != self.model or prompt != self.prompt:
            return False
        return all(params[key] == value for key, value in self.params.items() if key in params)


@dataclass(frozen=True)
class Starter:
    name: str
    model: str
    prompt: str
    params: dict[str, Any]


# Good first presets: each shows what one model does well, with settings that suit it.
STARTERS: tuple[Starter, ...] = (
    Starter("Product shot", "grok-imagine",
            "Studio product photo of a ceramic coffee mug on a seamless pale grey backdrop, soft box lighting, "
            "gentle shadow, crisp detail, centred composition",
            {"aspect_ratio": "1:1", "enable_pro": "true"}),
    Starter("Cinematic landscape", "grok-imagine",
            "Wide cinematic landscape of misty mountains at golden hour, a winding river below, volumetric light, "
            "35mm film look",
            {"aspect_ratio": "16:9", "enable_pro": "false"}),
    Starter("Portrait, soft light", "grok-imagine",
            "Head-and-shoulders portrait of a smiling woman by a window, soft natural light, shallow depth of field, "
            "warm tones",
            {"aspect_ratio": "2:3", "enable_pro": "false"}),
    Starter("Slow camera push-in", "grok-imagine-video",
            "Slow camera push-in on a steaming cup of tea on a wooden table, morning light through the window, "
            "dust in the air",
            {"mode": "normal", "duration": 6, "resolution": "480p", "aspect_ratio": "16:9"}),
    Starter("Social vertical clip", "grok-imagine-video",
            "A paper plane glides through a sunny city street, playful tracking shot, bright colours",
            {"mode": "fun", "duration": 6, "resolution": "720p", "aspect_ratio": "9:16"}),
)


def clean_name(name: str) -> str:
    """A preset's name as stored: trimmed, one line; ``PresetError`` when empty or too long."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise PresetError("Give the preset a name.")
    if len(cleaned) > PRESET_NAME_MAX_CHARS:
        raise PresetError(f"Keep the name to {PRESET_NAME_MAX_CHARS} characters or fewer.")
    return cleaned


def _settings(model: str, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
    """The catalog's settings of ``params`` (never a reference: its upload is not the team's to reuse)."""
    if model not in MODELS:
        raise PresetError(f"There is no model called {model}.")
    kept = {k: v for k, v in params.items() if k != REFERENCE_ITEMS_KEY and MODELS[model].param(k) is not None}
    problems = validate(model, prompt, kept)
    if problems:
        raise PresetError(" ".join(problems))
    return kept


def _preset(row: Row[Any], stars: int = 0) -> Preset:
    return Preset(
        id=row.id, name=row.name, model=row.model, prompt=row.prompt, params=json.loads(row.params or "{}"),
        created_by=row.created_by, created_at=row.created_at, updated_at=row.updated_at,
        builtin=bool(row.builtin), stars=stars,
    )


def seed_starters(log: TaskLog, starters: tuple[Starter, ...] = STARTERS) -> int:
    """Insert each shipped preset the first time this database sees it; returns how many were inserted.

    A marker per starter is written in the same transaction, so a starter the team deleted or
    renamed is never inserted again, and one added in a later release still arrives.
    """
    inserted = 0
    now = utc_now()
    with log.writing() as db:
        for starter in starters:
            marked = db.execute("INSERT INTO seeded (name, seeded_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                (f"preset:{starter.name}", now)).rowcount
            if not marked:
                continue
            cursor = db.execute(
                """INSERT INTO presets (name, model, prompt, params, created_by, created_at, updated_at, builtin)
                   VALUES (?, ?, ?, ?, NULL, ?, ?, 1) ON CONFLICT (name) DO NOTHING""",
                (starter.name, starter.model, starter.prompt, json.dumps(starter.params, sort_keys=True), now, now),
            )
            inserted += cursor.rowcount
    return inserted


def _star_counts(log: TaskLog) -> dict[int, int]:
    """Stars on results made from each preset: read from the small ``stars`` table, jobs joined by primary key."""
    rows = log.read("SELECT j.preset_id, COUNT(*) FROM stars s JOIN jobs j ON j.id = s.job_id "
                    "WHERE j.preset_id IS NOT NULL GROUP BY j.preset_id")
    return {r[0]: r[1] for r in rows}


def list_presets(log: TaskLog, model: str | None = None) -> list[Preset]:
    """The team's presets (of one model if given): most starred results first, then newest, then by name."""
    sql, args = "SELECT * FROM presets", []
    if model is not None:
        sql, args = sql + " WHERE model = ?", [model]
    stars = _star_counts(log)
    presets = [_preset(r, stars.get(r.id, 0)) for r in log.read(sql, args)]
    presets.sort(key=lambda p: p.name.casefold())
    presets.sort(key=lambda p: (p.stars, p.updated_at), reverse=True)
    return presets


def get_preset(log: TaskLog, preset_id: int) -> Preset | None:
    rows = log.read("SELECT * FROM presets WHERE id = ?", (preset_id,))
    return _preset(rows[0], _star_counts(log).get(preset_id, 0)) if rows else None


def save_preset(log: TaskLog, name: str, model: str, prompt: str, params: dict[str, Any], person: Person | None = None) -> Preset:
    """A new shared preset; ``PresetNameTaken`` if any preset has that name (any case)."""
    name = clean_name(name)
    settings = _settings(model, prompt, params)
    now = utc_now()
    try:
        with log.writing() as db:
            row = db.execute(
                """INSERT INTO presets (name, model, prompt, params, created_by, created_at, updated_at, builtin)
                   VALUES (?, ?, ?, ?, ?, ?, ?, 0) RETURNING *""",
                (name, model, prompt, json.dumps(settings, sort_keys=True), person.id if person else None, now, now),
            ).fetchone()
    except IntegrityError:
        raise PresetNameTaken(name) from None
    return _preset(row)


def rename_preset(log: TaskLog, preset_id: int, name: str) -> Preset:
    """Give a preset a new name (a change of case only is allowed); ``PresetNameTaken``, ``PresetNotFound``.

    A starter given another name is the team's own from then on: it loses its "starter" mark (the seeding marker
    already keeps it from coming back under its shipped name). The same name again, in any case (names are compared
    so, as for uniqueness), changes nothing.
    """
    name = clean_name(name)
    try:
        with log.writing() as db:
            # SET's right-hand sides read the row as it was, on both engines: ``name = ?`` compares the old name (any case).
            row = db.execute(
                "UPDATE presets SET builtin = CASE WHEN name = ? THEN builtin ELSE 0 END, name = ?, updated_at = ? "
                "WHERE id = ? RETURNING *",
                (name, name, utc_now(), preset_id),
            ).fetchone()
    except IntegrityError:
        raise PresetNameTaken(name) from None
    if row is None:
        raise PresetNotFound(preset_id)
    return _preset(row, _star_counts(log).get(preset_id, 0))


def delete_preset(log: TaskLog, preset_id: int) -> bool:
    """Remove a preset for everyone; jobs made from it keep their ``preset_id``. False if it was already gone."""
    with log.writing() as db:
        return db.execute("DELETE FROM presets WHERE id = ?", (preset_id,)).rowcount > 0
