"""One press of Generate or Try again: checked once, sent once, answered with what the page shows.

The page collects a ``Form`` and says ``Who`` presses; ``Studio.submit`` and ``Studio.retry`` check the press once
(the catalog's rules, the key choice, the wallet), send it with the budgets the ``Studio`` was opened with, and
return an ``Outcome``: the jobs to follow, the notice to show, and the keys to look up once an unreachable log is
back. A press's intent (``next_intent``) names its idempotency keys, so a rerun or a double click of one press is
never a second job.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import MODELS, REFERENCE_ITEMS_KEY, credits_for, validate
from .constants import DOUBLE_CLICK_SECONDS
from .errors import RivyaError, StorageError
from .explore import GridError, cell_keys, plan_grid
from .grids import recorder
from .jobs import Reference
from .messages import Explanation, explain, explain_batch
from .people import Person
from .presets import get_preset
from .status import JobStatus
from .submitting import Take
from .tasklog import SHARED_OWNER, Job, TaskLog

if TYPE_CHECKING:
    from .studio import Studio

# Failed or refused jobs that Try again may send anew; a job refused for credits would only be refused again.
RETRYABLE = frozenset({JobStatus.FAILED, JobStatus.REJECTED})
NO_CREDITS = "insufficient_credits"
CHOOSE_KEY = "Choose which key pays for this job (at the top of the page)."
REFERENCE_GONE = Explanation(
    "The reference image of this job is no longer kept here.", "Use its settings, attach the image again, then generate."
)


@dataclass(frozen=True)
class Intent:
    """One press as its page remembers it: its key, what the form held (``fingerprint``) and when (monotonic)."""

    key: str
    fingerprint: str
    at: float


def next_intent(fingerprint: str, last: Intent | None, now: float) -> Intent | None:
    """A new intent for a press, or None for the second half of a double click (the same form within the window).

    Decided from its arguments alone; only the new key is random, so no two presses anywhere share one.
    """
    if last is not None and last.fingerprint == fingerprint and now - last.at < DOUBLE_CLICK_SECONDS:
        return None
    return Intent(f"studio-{uuid.uuid4().hex}", fingerprint, now)


def intent_keys(intent: str, count: int) -> list[str]:
    """The idempotency keys of one press: the intent's own for one take, ``<intent>-1`` … ``<intent>-N`` for N."""
    return [intent] if count == 1 else [f"{intent}-{n}" for n in range(1, count + 1)]


@dataclass(frozen=True)
class Form:
    """What one press of Generate asks for, as the form holds it.

    ``params`` never holds the reference item (``reference`` is attached as it is sent); ``reference_problem`` is why
    the attached image cannot be used; ``preset_id`` is the preset the form was filled from, recorded only while the
    form still holds its prompt and settings.
    """

    model: str
    prompt: str
    params: Mapping[str, Any]
    reference: Reference | None = None
    reference_problem: str | None = None
    count: int = 1
    parent_id: int | None = None
    preset_id: int | None = None


@dataclass(frozen=True)
class GridForm:
    """What one press of Explore asks for: the prompt as written (with its ``{a|b}`` choices), the fixed settings,
    and up to two settings to vary (parameter key to the values to try)."""

    model: str
    prompt: str
    params: Mapping[str, Any]
    settings: Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class Who:
    """Who presses and which key pays.

    ``owner`` is None while a person who used their own key in this tab has not said which key pays now: nothing may
    be sent then (the team's wallet would pay without them knowing). ``page`` is where the press was made; Try again
    keeps its job's.
    """

    person: Person | None
    owner: str | None = SHARED_OWNER
    session_id: str | None = None
    page: str | None = None


class Notice(StrEnum):
    FIX = "fix"  # nothing was sent: the press needs a change first (``Outcome.problems``)
    ERROR = "error"  # the press met an error; its jobs' cards, if any, say what became of each
    WARN = "warn"  # the press may have gone out: don't press again, its jobs show up once the log is back


@dataclass(frozen=True)
class Outcome:
    """What a press did, for the page to render: jobs to follow (in the order sent) and what to say.

    ``words`` go with ``ERROR`` and ``WARN``, ``problems`` with ``FIX``; ``waiting`` are the keys of jobs that may have
    been logged and sent while the log could not be read (found by key once it answers).
    """

    jobs: tuple[Job, ...] = ()
    notice: Notice | None = None
    words: Explanation | None = None
    problems: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()


def can_retry(job: Job) -> bool:
    """Try again is offered: the job failed or was refused, not for lack of credits, and its model still exists."""
    return job.status in RETRYABLE and job.error_code != NO_CREDITS and job.model in MODELS


def retry_params(job: Job) -> dict[str, Any]:
    """The failed job's settings without its reference item (the reference is attached anew, with a fresh link)."""
    return {k: v for k, v in job.params.items() if k != REFERENCE_ITEMS_KEY}


def submit(studio: Studio, form: Form, who: Who, intent: str) -> Outcome:
    """Check the press once, then send ``form.count`` jobs under ``intent``'s keys, all or none."""
    problems = _problems(studio, form, who)
    if problems or who.owner is None:
        return Outcome(notice=Notice.FIX, problems=tuple(problems))
    keys = intent_keys(intent, form.count)
    settings = studio.settings
    owner = who.owner
    return _send(studio, owner, keys, lambda: studio.jobs.submit_batch(
        form.model, form.prompt, dict(form.params), keys=keys, reference=form.reference, page=who.page,
        session_id=who.session_id, owner=owner, daily_budget=settings.daily_budget, person=who.person,
        person_budget=settings.person_daily_budget, budget_timezone=settings.budget_timezone,
        batch_id=intent if form.count > 1 else None, parent_id=form.parent_id,
        preset_id=_preset_in_use(studio.log, form),
    ))


def submit_grid(studio: Studio, form: GridForm, who: Who, intent: str) -> Outcome:
    """One press of Explore: the whole grid checked once (its plan, the key, the wallet), then one job per cell
    under ``intent`` (the grid's id) with one key per cell, all or none, like a batch."""
    try:
        plan = plan_grid(form.model, form.prompt, form.params, form.settings)
    except GridError as exc:
        return Outcome(notice=Notice.FIX, problems=tuple(exc.problems))
    if who.owner is None:
        return Outcome(notice=Notice.FIX, problems=(CHOOSE_KEY,))
    short = _wallet_short(studio, plan.credits, len(plan.cells), who.owner)
    if short:
        return Outcome(notice=Notice.FIX, problems=tuple(short))
    keys = cell_keys(intent, len(plan.cells))
    takes = [Take(key, cell.prompt, cell.params) for key, cell in zip(keys, plan.cells, strict=True)]
    settings = studio.settings
    owner = who.owner
    record = recorder(intent, plan, form.params, form.settings, who.person)
    return _send(studio, owner, keys, lambda: studio.jobs.submit_takes(
        form.model, takes, page=who.page, session_id=who.session_id, owner=owner,
        daily_budget=settings.daily_budget, person=who.person, person_budget=settings.person_daily_budget,
        budget_timezone=settings.budget_timezone, grid_id=intent, record=record,
    ))


def _send(studio: Studio, owner: str, keys: list[str], send: Callable[[], list[Job]]) -> Outcome:
    """Run one checked press's ``send`` and say what became of it, from what this press knows."""
    try:
        jobs = send()
    except StorageError as exc:
        # Decided from what this press knows, never by reading the log again: it is what just failed. Whether the
        # create may have gone out (``after_send``) decides between "nothing was sent" and "don't press again".
        if exc.after_send:  # its rows are found by their keys once the log is back
            return Outcome(notice=Notice.WARN, words=explain(exc), waiting=tuple(keys))
        return Outcome(notice=Notice.ERROR, words=explain(exc))
    except RivyaError as exc:
        return _met_error(studio.log, exc, keys)
    finally:
        studio.forget_balance(owner)
    return Outcome(jobs=tuple(jobs))


def retry(studio: Studio, job_id: int, who: Who, intent: str) -> Outcome:
    """Try again: a new job of the same model, prompt, settings and reference, through the same checks as Generate.

    Nothing (an empty ``Outcome``) when the job is gone or may not be tried again.
    """
    try:
        job = studio.log.get(job_id)
    except StorageError as exc:
        return Outcome(notice=Notice.ERROR, words=explain(exc))
    if job is None or not can_retry(job):
        return Outcome()
    if who.owner is None:  # before the reference is uploaded: that upload would go out under the team key
        return Outcome(notice=Notice.FIX, problems=(CHOOSE_KEY,))
    try:
        reference = _reference_again(studio, job, who.owner)
    except RivyaError as exc:
        return Outcome(notice=Notice.ERROR, words=explain(exc))
    except LookupError:
        return Outcome(notice=Notice.ERROR, words=REFERENCE_GONE)
    form = Form(job.model, job.prompt, retry_params(job), reference=reference, parent_id=job.parent_id,
                preset_id=job.preset_id)
    return submit(studio, form, replace(who, page=job.page), intent)


def _problems(studio: Studio, form: Form, who: Who) -> list[str]:
    """Everything that stops this press, in plain words: the catalog's rules, the image, the key, then the wallet."""
    full = dict(form.params)
    if form.reference is not None:
        full[REFERENCE_ITEMS_KEY] = [form.reference.uploaded.as_reference_item()]
    problems = validate(form.model, form.prompt, full)
    if form.reference_problem:
        problems.append("Remove or replace the reference image: " + form.reference_problem)
    if who.owner is None:
        problems.append(CHOOSE_KEY)
    elif not problems:
        cost = credits_for(form.model, dict(form.params)) * form.count
        problems.extend(_wallet_short(studio, cost, form.count, who.owner))
    return problems


def _wallet_short(studio: Studio, cost: int, count: int, owner: str) -> list[str]:
    """The wallet, read fresh, cannot pay ``cost`` for the whole press; an unknown balance lets the service decide."""
    try:
        balance = studio.balance(owner, fresh=True)
    except RivyaError:
        return []
    if balance is None or balance >= cost:
        return []
    what = "This job costs" if count == 1 else f"These {count} jobs cost"
    return [f"{what} {cost} credits but the wallet holds {balance}. Top up, then try again."]


def _preset_in_use(log: TaskLog, form: Form) -> int | None:
    """The form's preset while the form still holds its prompt and settings, else None."""
    if form.preset_id is None:
        return None
    preset = get_preset(log, form.preset_id)
    return preset.id if preset is not None and preset.matches(form.model, form.prompt, dict(form.params)) else None


def _met_error(log: TaskLog, exc: RivyaError, keys: list[str]) -> Outcome:
    """A press that met an error after its rows may have been written: each logged take gets its card."""
    try:
        jobs = [job for key in keys if (job := log.by_key(key)) is not None]
    except StorageError:
        return Outcome(notice=Notice.ERROR, words=explain(exc), waiting=tuple(keys))
    # A batch: what each take cost, never one verdict for all of them.
    words = explain_batch(exc, jobs) if len(keys) > 1 and jobs else explain(exc)
    return Outcome(jobs=tuple(jobs), notice=Notice.ERROR, words=words)


def _reference_again(studio: Studio, job: Job, owner: str) -> Reference | None:
    """The failed job's reference image, attached anew from its local copy (its upload link may have expired).

    ``LookupError`` when the job had one and its copy is no longer kept in the data or media folder.
    """
    if REFERENCE_ITEMS_KEY not in job.params and not job.reference_path:
        return None
    path = Path(job.reference_path).resolve() if job.reference_path else None
    kept_in = (studio.settings.data_dir.resolve(), studio.settings.media_folder.resolve())
    if path is None or not any(path.is_relative_to(folder) for folder in kept_in) or not path.is_file():
        raise LookupError(job.id)
    return studio.prepare_reference(path.read_bytes(), path.name, job.model, owner)
