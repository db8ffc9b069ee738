"""Presets and recent prompts on both engines (a SQLite file, a PostgreSQL database)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from rivya.people import Person
from rivya.presets import (
    STARTERS,
    PresetError,
    PresetNameTaken,
    PresetNotFound,
    Starter,
    delete_preset,
    get_preset,
    list_presets,
    rename_preset,
    save_preset,
    seed_starters,
)
from rivya.prompts import recent_prompts
from rivya.stars import set_star
from rivya.tasklog import TaskLog

VIDEO = {"mode": "fun", "duration": 8, "resolution": "720p", "aspect_ratio": "9:16"}


@pytest.fixture
def log(log_location: Path | str) -> Iterator[TaskLog]:
    """A fresh log on each engine, closed afterwards."""
    opened = TaskLog(log_location)
    yield opened
    opened.close()


def add_job(log: TaskLog, prompt: str, *, model: str = "grok-imagine", preset_id: int | None = None, n: list[int] = [0]) -> int:  # noqa: B006
    n[0] += 1
    category = "video" if model.endswith("video") else "image"
    job = log.add(idempotency_key=f"k-{n[0]}-{prompt}", backend="sandbox", model=model, category=category, prompt=prompt,
                  params={"aspect_ratio": "1:1"}, preset_id=preset_id)
    return job.id


def test_save_apply_rename_delete(log: TaskLog) -> None:
    ana = Person("ana@example.com", "Ana")
    with_reference = {**VIDEO, "referenceMediaItems": [{}]}
    saved = save_preset(log, "  Night   city ", "grok-imagine-video", "Neon streets in rain", with_reference, ana)
    assert saved.name == "Night city" and saved.created_by == "ana@example.com" and not saved.builtin
    assert saved.params == VIDEO  # a reference upload is never part of a shared preset
    assert get_preset(log, saved.id) == saved
    assert saved.matches("grok-imagine-video", "Neon streets in rain", VIDEO)
    assert not saved.matches("grok-imagine-video", "Neon streets in rain", {**VIDEO, "duration": 9})
    assert not saved.matches("grok-imagine-video", "Neon streets at dawn", VIDEO)
    assert not saved.matches("grok-imagine", "Neon streets in rain", VIDEO)

    renamed = rename_preset(log, saved.id, "Rainy city")
    assert renamed.name == "Rainy city" and get_preset(log, saved.id).name == "Rainy city"
    assert rename_preset(log, saved.id, "RAINY city").name == "RAINY city"  # a change of case only is fine
    assert delete_preset(log, saved.id) is True
    assert get_preset(log, saved.id) is None and delete_preset(log, saved.id) is False
    with pytest.raises(PresetNotFound):
        rename_preset(log, saved.id, "Gone")


def test_names_are_unique_in_any_case_and_checked(log: TaskLog) -> None:
    first = save_preset(log, "Portrait", "grok-imagine", "a face", {"aspect_ratio": "2:3", "enable_pro": "false"})
    with pytest.raises(PresetNameTaken, match="already exists"):
        save_preset(log, "portrait", "grok-imagine-video", "a face moving", VIDEO)
    other = save_preset(log, "Landscape", "grok-imagine", "hills", {"aspect_ratio": "16:9"})
    with pytest.raises(PresetNameTaken):
        rename_preset(log, other.id, "PORTRAIT")
    assert get_preset(log, other.id).name == "Landscape" and get_preset(log, first.id).name == "Portrait"
    for bad in ("   ", "x" * 61):
        with pytest.raises(PresetError):
            save_preset(log, bad, "grok-imagine", "hills", {})
    with pytest.raises(PresetError, match="prompt"):
        save_preset(log, "Empty", "grok-imagine", "  ", {})  # the catalog's own checks apply
    with pytest.raises(PresetError):
        save_preset(log, "Wrong", "grok-imagine", "hills", {"aspect_ratio": "5:4"})
    assert [p.name for p in list_presets(log)] == ["Landscape", "Portrait"]


def test_starters_are_seeded_once_and_stay_deleted(log: TaskLog, log_location: Path | str) -> None:
    assert seed_starters(log) == len(STARTERS)
    builtins = list_presets(log)
    assert {p.name for p in builtins} == {s.name for s in STARTERS} and all(p.builtin for p in builtins)
    assert seed_starters(log) == 0
    gone = next(p for p in builtins if p.name == STARTERS[0].name)
    delete_preset(log, gone.id)
    rename_preset(log, next(p for p in builtins if p.name == STARTERS[1].name).id, "Our landscape")
    reopened = TaskLog(log_location)  # a restart (or another replica) seeds again: nothing comes back
    assert seed_starters(reopened) == 0
    names = {p.name for p in list_presets(reopened)}
    assert STARTERS[0].name not in names and STARTERS[1].name not in names and "Our landscape" in names
    # A starter added in a later release still arrives; a team preset with a starter's name is left alone.
    save_preset(log, "Team favourite", "grok-imagine", "ours", {"aspect_ratio": "1:1"})
    later = (Starter("Brand new", "grok-imagine", "new", {}), Starter("team FAVOURITE", "grok-imagine", "theirs", {}))
    assert seed_starters(log, later) == 1
    assert next(p for p in list_presets(log) if p.name == "Team favourite").prompt == "ours"
    assert len(list_presets(log, "grok-imagine-video")) == sum(s.model == "grok-imagine-video" for s in STARTERS)
    reopened.close()


def test_a_renamed_starter_is_the_teams_own(log: TaskLog) -> None:
    seed_starters(log)
    starter = next(p for p in list_presets(log) if p.name == STARTERS[0].name)
    assert starter.builtin
    assert rename_preset(log, starter.id, STARTERS[0].name).builtin  # the same name again changes nothing
    renamed = rename_preset(log, starter.id, "Our mug shot")
    assert not renamed.builtin and not get_preset(log, starter.id).builtin
    assert not next(p for p in list_presets(log) if p.id == starter.id).builtin
    other = next(p for p in list_presets(log) if p.name == STARTERS[1].name)
    assert rename_preset(log, other.id, STARTERS[1].name.upper()).builtin  # names compare in any case: the same name


def test_every_starter_passes_the_catalog(log: TaskLog) -> None:
    for starter in STARTERS:
        save_preset(log, "check " + starter.name, starter.model, starter.prompt, starter.params)  # raises if invalid


def test_the_most_starred_presets_come_first(log: TaskLog) -> None:
    plain = save_preset(log, "Alpha", "grok-imagine", "a", {"aspect_ratio": "1:1"})
    loved = save_preset(log, "Beta", "grok-imagine", "b", {"aspect_ratio": "1:1"})
    liked = save_preset(log, "Gamma", "grok-imagine", "c", {"aspect_ratio": "1:1"})
    for person in ("ana", "bo", ""):
        set_star(log, add_job(log, "b", preset_id=loved.id), person, True)
    set_star(log, add_job(log, "b again", preset_id=loved.id), "ana", True)
    set_star(log, add_job(log, "c", preset_id=liked.id), "bo", True)
    add_job(log, "a", preset_id=plain.id)  # used but never starred
    set_star(log, add_job(log, "no preset"), "ana", True)
    ordered = list_presets(log, "grok-imagine")
    assert [(p.name, p.stars) for p in ordered] == [("Beta", 4), ("Gamma", 1), ("Alpha", 0)]
    assert get_preset(log, loved.id).stars == 4


def test_recent_prompts_are_distinct_newest_first_and_searchable(log: TaskLog) -> None:
    for prompt in ("A red fox in snow", "Lighthouse at dawn", "A red fox in snow", "Café on a rainy street", "  "):
        add_job(log, prompt)
    video = add_job(log, "Waves over rocks", model="grok-imagine-video")
    found = recent_prompts(log)
    assert [p.prompt for p in found] == ["Waves over rocks", "Café on a rainy street", "A red fox in snow", "Lighthouse at dawn"]
    assert found[0].job_id == video and found[0].model == "grok-imagine-video"
    assert found[2].job_id > found[3].job_id  # a prompt counts from its newest use, after the lighthouse
    assert [p.prompt for p in recent_prompts(log, limit=2)] == ["Waves over rocks", "Café on a rainy street"]
    assert [p.prompt for p in recent_prompts(log, text="fox")] == ["A red fox in snow"]
    assert [p.prompt for p in recent_prompts(log, text="café RAIN")] == ["Café on a rainy street"]  # any case, prefixes
    # Accents are ignored on SQLite only (PostgreSQL's word index keeps them: rivya.dialect).
    accents_ignored = ["Café on a rainy street"] if log.dialect.is_sqlite else []
    assert [p.prompt for p in recent_prompts(log, text="cafe")] == accents_ignored
    assert recent_prompts(log, text="fox dawn") == []  # every word must appear
    assert recent_prompts(log, text='") OR *') == []  # never read as FTS syntax
    assert [p.prompt for p in recent_prompts(log, model="grok-imagine-video")] == ["Waves over rocks"]


def test_the_presets_table_is_the_schema_one(log: TaskLog) -> None:
    """Saving goes to the v5 ``presets`` table beside the jobs (on SQLite, readable by any SQLite tool)."""
    save_preset(log, "Plain", "grok-imagine", "p", {"aspect_ratio": "3:2"})
    row = ("Plain", "grok-imagine", '{"aspect_ratio": "3:2"}', 0)
    assert tuple(log.read("SELECT name, model, params, builtin FROM presets")[0]) == row
    if log.path is not None:
        assert sqlite3.connect(log.path).execute("SELECT name, model, params, builtin FROM presets").fetchone() == row

