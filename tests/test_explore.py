"""Explore: the ``{a|b}`` syntax, the grid plan from the catalog, and one press of a grid (all or none, per-cell money)
through ``Studio`` on the real sandbox and a real log of each engine."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rivya import RivyaClient, gallery
from rivya.budgets import day_start
from rivya.config import Settings
from rivya.constants import MAX_GRID_JOBS
from rivya.errors import SpendLimitError
from rivya.explore import GridError, axis_params, cell_keys, parse_prompt, plan_grid
from rivya.gallery import GalleryFilter
from rivya.grids import get_grid, recent_grids, recorder
from rivya.jobs import JobService
from rivya.ledger import JobFilter, LedgerView
from rivya.people import Person
from rivya.presses import GridForm, Notice, Who
from rivya.sandbox import Sandbox
from rivya.stars import set_star
from rivya.status import JobStatus
from rivya.studio import Studio
from rivya.submitting import Take
from rivya.tasklog import Job, TaskLog

from .conftest import FAST_POLLS, creates

IMAGE, VIDEO = "grok-imagine", "grok-imagine-video"
ANN = Person("ann@example.com", "Ann")
BOB = Person("bob@example.com", "Bob")
BASE = {"aspect_ratio": "1:1", "enable_pro": "false"}
KETTLES = GridForm(IMAGE, "a {red|blue} kettle", BASE, {"aspect_ratio": ["1:1", "16:9"]})


def problems(prompt: str) -> str:
    with pytest.raises(GridError) as refused:
        parse_prompt(prompt)
    return " ".join(refused.value.problems)


# -- the syntax -----------------------------------------------------------------------------------------------------


def test_choices_are_split_trimmed_and_escapes_are_literal() -> None:
    assert parse_prompt("a {red | blue|green } kettle") == ("a ", ("red", "blue", "green"), " kettle")
    assert parse_prompt(r"json \{x\} {a\|b|c\}} \\ and C:\path") == (
        "json {x} ", ("a|b", "c}"), " \\ and C:\\path")
    assert parse_prompt("no choices at all | here") == ("no choices at all | here",)


def test_bad_choices_are_refused_in_words() -> None:
    nested = problems("a {b|{c|d}} kettle")
    assert "cannot be nested" in nested and "no opening" not in nested  # one problem, not a cascade of strays
    assert "empty alternative" in problems("a {red||blue} kettle")
    assert "empty alternative" in problems("a {red| } kettle")
    assert "one alternative" in problems("a {red} kettle") and "\\{" in problems("a {red} kettle")
    assert "never closed" in problems("a {red|blue kettle")
    assert "no opening" in problems("a red} kettle")
    assert "twice" in problems("a {red|red} kettle")


def test_the_prompt_limit_is_checked_per_cell_not_on_what_was_typed() -> None:
    long = "x" * 4990
    fits = plan_grid(IMAGE, f"{long} {{a|b}}", BASE, {})  # 4,998 characters typed, 4,992 per cell
    assert [len(c.prompt) for c in fits.cells] == [4992, 4992]
    wide = plan_grid(IMAGE, "{" + "a" * 2600 + "|" + "b" * 2600 + "}", BASE, {})  # 5,203 typed, 2,600 per cell
    assert len(wide.prompt) > 5000 and [len(c.prompt) for c in wide.cells] == [2600, 2600]
    with pytest.raises(GridError) as refused:
        plan_grid(IMAGE, f"{long} {{a|{'b' * 20}}}", BASE, {})
    assert refused.value.problems == ["bbbbbbbbbbbbbbbbbbbb: The prompt is 5011 characters; Grok Imagine accepts at most "
                                      "5000. Shorten it by 11."]  # only the long cell, named by its label


# -- the plan -------------------------------------------------------------------------------------------------------


def test_a_plan_crosses_choices_and_settings_and_states_its_price() -> None:
    plan = plan_grid(IMAGE, "a {red|blue|green} kettle on a {table|sill}", BASE, {"enable_pro": ["false", "true"]})
    assert plan.summary() == "3 × 2 × 2 = 12 images · 48 credits" and plan.credits == 48
    assert [a.labels for a in plan.axes] == [("red", "blue", "green"), ("table", "sill"), ("Standard", "Quality")]
    assert plan.cells[0].prompt == "a red kettle on a table" and plan.cells[0].params == BASE
    assert plan.cells[1].params == {**BASE, "enable_pro": "true"}  # the last axis varies fastest
    assert plan.cell_label(plan.cells[-1]) == "green × sill × Quality"
    video = plan_grid(VIDEO, "a {fox|owl}", {}, {"duration": [6, 10]})
    assert video.summary() == "2 × 2 = 4 videos · 40 credits" and video.axes[1].labels == ("6 s", "10 s")
    assert plan_grid(IMAGE, "a {fox|owl}", BASE, {}).summary() == "2 images · 8 credits"


def test_axes_come_from_the_catalog_and_refused_values_never_go_out() -> None:
    assert [p.key for p in axis_params(VIDEO)] == ["mode", "duration", "resolution", "aspect_ratio"]
    for settings, words in [
        ({"aspect_ratio": ["1:1", "5:4"]}, "got '5:4'"),
        ({"duration": [6, 31]}, "from 6 to 30"),
        ({"style": ["a", "b"]}, "no setting 'style'"),
        ({"aspect_ratio": ["1:1"]}, "two or more values"),
        ({"aspect_ratio": ["1:1", "1:1"]}, "twice"),
    ]:
        with pytest.raises(GridError) as refused:
            plan_grid(VIDEO if "duration" in settings else IMAGE, "a fox", {}, settings)
        assert words in " ".join(refused.value.problems), settings
    with pytest.raises(GridError, match="at most 2 settings"):
        plan_grid(VIDEO, "a fox", {}, {"mode": ["fun", "normal"], "resolution": ["480p", "720p"],
                                       "duration": [6, 7]})
    with pytest.raises(GridError, match="something to vary"):
        plan_grid(IMAGE, "a fox", BASE, {})


def test_a_grid_has_a_stated_bound() -> None:
    choices = "{" + "|".join(f"c{n}" for n in range(MAX_GRID_JOBS // 2)) + "}"
    assert len(plan_grid(IMAGE, choices, BASE, {"enable_pro": ["false", "true"]}).cells) == MAX_GRID_JOBS
    with pytest.raises(GridError) as refused:
        plan_grid(IMAGE, choices + " {x|y|z}", BASE, {"enable_pro": ["false", "true"]})
    count = MAX_GRID_JOBS * 3
    assert refused.value.problems == [f"This grid would make {count} jobs; one grid makes at most {MAX_GRID_JOBS}. "
                                      "Remove an alternative or a setting value."]


# -- one press: all or none -----------------------------------------------------------------------------------------


@pytest.fixture
def open_studio(sandbox: Sandbox, tmp_path: Path, log_location: Path | str) -> Iterator[Callable[..., Studio]]:
    """A ``Studio`` on the sandbox and the engine's log (no follower thread), closed afterwards."""
    opened: list[Studio] = []

    def make(**settings: object) -> Studio:
        where = {"database_url": log_location} if isinstance(log_location, str) else {}
        studio = Studio.open(Settings(api_key=sandbox.api_key, base_url=sandbox.url, data_dir=tmp_path / "data",
                                      **where, **settings), follow=False)  # type: ignore[arg-type]
        opened.append(studio)
        return studio

    yield make
    for studio in opened:
        studio.close()


def test_one_press_is_one_grid_with_a_key_per_cell_and_a_rerun_is_never_a_second(
    sandbox: Sandbox, open_studio: Callable[..., Studio]
) -> None:
    studio = open_studio()
    who = Who(ANN, session_id="s1", page="explore")
    outcome = studio.submit_grid(KETTLES, who, "studio-grid1")
    assert outcome.notice is None and len(outcome.jobs) == 4 and len(creates(sandbox)) == 4
    assert [(j.idempotency_key, j.prompt, j.params["aspect_ratio"]) for j in outcome.jobs] == [
        ("studio-grid1-1", "a red kettle", "1:1"), ("studio-grid1-2", "a red kettle", "16:9"),
        ("studio-grid1-3", "a blue kettle", "1:1"), ("studio-grid1-4", "a blue kettle", "16:9")]
    assert {j.grid_id for j in outcome.jobs} == {"studio-grid1"} and {j.batch_id for j in outcome.jobs} == {None}
    again = studio.submit_grid(KETTLES, who, "studio-grid1")  # a rerun of the same press
    assert [j.id for j in again.jobs] == [j.id for j in outcome.jobs] and len(creates(sandbox)) == 4
    kept = get_grid(studio.log, "studio-grid1")
    assert kept is not None and kept.person_name == "Ann" and [a.labels for a in kept.plan.axes] == [
        ("red", "blue"), ("1:1", "16:9")]
    assert [j.id if j else None for j in kept.jobs] == [j.id for j in outcome.jobs]
    assert [g.id for g in recent_grids(studio.log)] == ["studio-grid1"]
    assert get_grid(studio.log, "studio-nope") is None and get_grid(studio.log, "x" * 300) is None


def test_a_grid_the_wallet_cannot_pay_is_refused_whole(sandbox: Sandbox, open_studio: Callable[..., Studio]) -> None:
    studio = open_studio()
    sandbox.set_credits(12)
    outcome = studio.submit_grid(KETTLES, Who(ANN), "studio-poor")
    assert outcome.notice == Notice.FIX and outcome.problems == (
        "These 4 jobs cost 16 credits but the wallet holds 12. Top up, then try again.",)
    assert creates(sandbox) == [] and studio.log.count() == 0 and recent_grids(studio.log) == []


def test_a_grid_past_a_budget_is_refused_whole_and_says_whose(sandbox: Sandbox, open_studio: Callable[..., Studio]) -> None:
    studio = open_studio(daily_budget=100, person_daily_budget=12)
    outcome = studio.submit_grid(KETTLES, Who(ANN), "studio-over")
    assert outcome.notice is not None and outcome.words is not None and "Ann's daily budget of 12" in outcome.words.title
    assert creates(sandbox) == [] and studio.log.count() == 0 and recent_grids(studio.log) == []
    bad = studio.submit_grid(GridForm(IMAGE, "a {red|} kettle", BASE, {}), Who(ANN), "studio-bad")
    assert bad.notice == Notice.FIX and "empty alternative" in bad.problems[0] and creates(sandbox) == []


def service(sandbox: Sandbox, tmp_path: Path, where: Path | str) -> JobService:
    client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=FAST_POLLS)
    return JobService(client, TaskLog(where), tmp_path / "media", backend="sandbox")


def press(jobs: JobService, grid_id: str, person: Person, **budgets: int) -> list[Job]:
    """What ``submit_grid`` sends for KETTLES, straight to the service (no wallet read)."""
    plan = plan_grid(KETTLES.model, KETTLES.prompt, KETTLES.params, KETTLES.settings)
    takes = [Take(k, c.prompt, c.params) for k, c in zip(cell_keys(grid_id, 4), plan.cells, strict=True)]
    return jobs.submit_takes(IMAGE, takes, person=person, grid_id=grid_id, **budgets,  # type: ignore[arg-type]
                             record=recorder(grid_id, plan, KETTLES.params, KETTLES.settings, person))


def test_people_racing_grids_never_pass_their_budgets_and_no_grid_is_half_made(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    refused: list[str] = []

    def one(n: int) -> None:
        try:
            press(jobs, f"g{n}", (ANN, BOB)[n % 2], person_budget=40, daily_budget=56)
        except SpendLimitError as exc:
            refused.append(exc.whose)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(8)))
    # 16 credits a grid: three fit the team's 56 (a fourth would pass it), and neither person may have a third (40).
    assert jobs.log.committed_credits_since(day_start("UTC")) == 48 and len(sandbox.state.tasks) == 12
    grids = {job.grid_id for job in jobs.log.where("grid_id IS NOT NULL")}
    assert len(grids) == 3 and len(recent_grids(jobs.log)) == 3 and len(refused) == 5
    for grid in grids:
        assert len(jobs.log.where("grid_id = ?", (grid,))) == 4  # each grid whole


def wait_settled(jobs: JobService, ids: list[int], timeout: float = 20) -> list[Job]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs.recheck()
        jobs.follow_once()
        rows = jobs.log.many(ids)
        if all(r.is_done and not r.awaits_media for r in rows):
            return sorted(rows, key=lambda r: r.id)
        time.sleep(0.05)
    raise AssertionError(jobs.log.many(ids))


def test_a_cell_whose_reply_is_lost_stays_charged_and_a_refused_cell_is_never_charged(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    sandbox.lose_next_creates(1)  # cell 1: made and charged, its reply lost
    sandbox.set_credits(8)  # cells 1 and 2 are paid; cells 3 and 4 find the wallet empty and are refused
    made = press(jobs, "g-faults", ANN)
    assert made[0].status == JobStatus.SUBMITTING and made[0].charged_credits == 4  # never "not started"
    assert [j.status for j in made[2:]] == [JobStatus.REJECTED, JobStatus.REJECTED]
    assert [j.error_code for j in made[2:]] == ["insufficient_credits"] * 2 and [j.charged_credits for j in made[2:]] == [0, 0]
    done = wait_settled(jobs, [j.id for j in made])
    assert [j.status for j in done] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED, JobStatus.REJECTED, JobStatus.REJECTED]
    assert sum(j.charged_credits for j in done) == 8 and sandbox.balance() == 0 and len(sandbox.state.tasks) == 2


def test_grids_are_found_in_history_and_gallery_by_their_filter(
    sandbox: Sandbox, tmp_path: Path, log_location: Path | str
) -> None:
    jobs = service(sandbox, tmp_path, log_location)
    lone = jobs.submit(IMAGE, "a lone kettle", BASE, idempotency_key="lone", person=ANN)
    cells = press(jobs, "g-kept", ANN)
    wait_settled(jobs, [lone.id, *(j.id for j in cells)])
    ids = sorted(j.id for j in cells)
    ledger = LedgerView(jobs.log)
    for only in (JobFilter(grids_only=True), JobFilter(grids_only=True, person=ANN.id),
                 JobFilter(grids_only=True, text="kettle"), JobFilter(grids_only=True, models=(IMAGE,)),
                 JobFilter(grids_only=True, statuses=(JobStatus.SUCCEEDED,))):
        assert ledger.count(only) == 4 and sorted(ledger.page(only)["id"]) == ids, only
    assert ledger.count(JobFilter()) == 5 and ledger.count(JobFilter(grids_only=True, text="lone")) == 0
    set_star(jobs.log, ids[1], ANN.id, True)
    assert list(ledger.page(JobFilter(grids_only=True, starred_by=ANN.id))["id"]) == [ids[1]]
    assert gallery.count_results(jobs.log, GalleryFilter(grids_only=True)) == 4
    assert sorted(j.id for j in gallery.results_page(jobs.log, GalleryFilter(grids_only=True)).jobs) == ids
    assert gallery.count_results(jobs.log, GalleryFilter()) == 5


def test_a_grid_row_that_can_no_longer_be_planned_is_no_grid(tmp_path: Path) -> None:
    """A model since removed from the catalog, or a row edited by hand, is "not kept here", never a traceback."""
    log = TaskLog(tmp_path / "log.sqlite3")
    plan = plan_grid(KETTLES.model, KETTLES.prompt, KETTLES.params, KETTLES.settings)
    for grid_id, model, axes in (("g-gone", "grok-imagine-retired", "{}"), ("g-bad", IMAGE, "not json"),
                                 ("g-list", IMAGE, "[1, 2]")):
        with log.writing() as db:
            recorder(grid_id, plan, KETTLES.params, KETTLES.settings, ANN)(db)
            db.execute("UPDATE grids SET model = ?, axes = ? WHERE id = ?", (model, axes, grid_id))
        assert get_grid(log, grid_id) is None, grid_id
    log.close()
