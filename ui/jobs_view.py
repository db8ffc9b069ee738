"""Job cards and the job panel: finished results drawn once per page run, jobs in progress refreshed live.

What a refresh costs is paid by every open tab every second or so, so the live part holds only
the jobs still in progress: a refresh re-reads a few log rows and redraws a few small cards,
never a result file. Finished results are drawn by the page run (the newest at full size, older
ones as their saved thumbnails, full size on request).
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

import streamlit as st

from rivya.catalog import credits_for, describe_params, display_name
from rivya.constants import SLOW_REFRESH_SECONDS
from rivya.gallery import result_file
from rivya.jobs import REFUSAL_CODES
from rivya.lineage import lineage
from rivya.messages import UNCONFIRMED, cost_words, explain_code, service_said
from rivya.panel import PanelGroup, PanelPlan, plan_panel
from rivya.people import star_owner
from rivya.presses import Notice, Who, can_retry, next_intent, retry_params
from rivya.resources import is_web_url
from rivya.results import offered_note
from rivya.stars import starred
from rivya.status import JobStatus, is_known, status_word
from rivya.studio import Studio
from rivya.tasklog import Job, TaskLog
from rivya.thumbnails import CARD, data_uri, shown_thumbnail
from ui.access import current_person, is_admin, key_owner, personal_key_choice_pending
from ui.actions import edit_and_retry_button, result_actions
from ui.large_view import open_link
from ui.live import live_fragment, read_on_change
from ui.pictures import show_result_image
from ui.services import current_studio, session_id
from ui.session import session
from ui.text import local_time, md_escape, seconds

log = logging.getLogger("ui.jobs_view")

STATUS_ICONS = {
    JobStatus.SUBMITTING: ":material/upload:",
    JobStatus.QUEUED: ":material/hourglass_empty:",
    JobStatus.PROCESSING: ":material/autorenew:",
    JobStatus.SUCCEEDED: ":material/check_circle:",
    JobStatus.FAILED: ":material/error:",
    JobStatus.REJECTED: ":material/block:",
    JobStatus.UNCONFIRMED: ":material/help:",
}


# A batch's results side by side (Streamlit stacks them on narrow screens). The panel is under half the page:
# four cells there are ~100 px wide and their buttons unreadable (seen at 1400 px), so a batch of 4 is 2 x 2.
GRID_COLUMNS = 3
# The generic words for a failure say its credits were returned; a card that states how many drops them (one line).


@dataclass(frozen=True)
class CardFacts:
    """What the finished cards of one page run show beyond their own row, read in a few queries for all of them."""

    starred: frozenset[int] = frozenset()
    parents: dict[int, Job] = field(default_factory=dict)
    children: dict[int, list[Job]] = field(default_factory=dict)
    chain_credits: dict[int, int] = field(default_factory=dict)


def batch_header(members: list[Job]) -> str:
    """``**3 takes** · cost 12 credits``: what one press of Generate with "How many" made and what it cost or holds
    (each take's card says its own cost, under Prompt and settings)."""
    charged = sum(m.charged_credits for m in members)
    returned = sum(m.credits_returned for m in members)
    held = " so far" if any(not m.is_done for m in members) else ""
    back = f" · {returned:,} returned" if returned else ""
    return f"**{len(members)} takes** · cost {charged:,} credits{held}{back}"


def read_facts(log: TaskLog, jobs: list[Job], person: str) -> CardFacts:
    """Stars, sources and what was made from each of ``jobs``: one query each for all cards, plus the chain
    (``rivya.lineage``) of the few that have one."""
    ids = [j.id for j in jobs]
    if not ids:
        return CardFacts()
    children: dict[int, list[Job]] = {}
    for child in log.children_of(ids):
        children.setdefault(child.parent_id, []).append(child)
    parents = {p.id: p for p in log.many({j.parent_id for j in jobs if j.parent_id is not None})}
    chained = [j for j in jobs if j.parent_id is not None or j.id in children]
    return CardFacts(
        starred=frozenset(starred(log, ids, person)),
        parents={j.id: parents[j.parent_id] for j in jobs if j.parent_id in parents},
        children=children,
        chain_credits={j.id: lineage(log, j).total_credits for j in chained},
    )


def _register_retry(key_prefix: str, job_ids: tuple[int, ...], model: str) -> None:
    """Try again's callback (one job, or a batch's failed takes): one new intent per press, except a double click's
    second half; each job sent again gets its own idempotency key derived from it."""
    state = session().retry(key_prefix)
    intent = next_intent(",".join(map(str, job_ids)), state.click, time.monotonic())
    if intent is None:
        return
    state.click = intent
    state.press = (job_ids, model)  # acted on once, by the next page run
    for job_id in job_ids:
        state.said.pop(job_id, None)  # a new press replaces the last message


def follow(model: str, jobs: Iterable[Job]) -> None:
    """Show these jobs' cards in the model's panel, newest first, each once."""
    jobs = list(jobs)
    if not jobs:
        return
    followed = session().model(model).followed
    for job in reversed(jobs):
        if job.id not in followed:
            followed.insert(0, job.id)


def follow_later(model: str, keys: Sequence[str]) -> None:
    """Jobs a press may have logged while the log could not be read: the model's panel finds them by key later."""
    if keys:
        session().model(model).waiting.extend(keys)


def _handle_retry(key_prefix: str) -> None:
    """Act on a registered Try again exactly once (``rivya.presses.retry``, once per job of the press); the intent's
    keys make a repeat of the same press a no-op, so reruns never send a second job. A batch's press sends take n
    under ``<intent>-n``, as Generate's takes are keyed."""
    state = session().retry(key_prefix)
    press, state.press = state.press, None
    if press is None or state.click is None:
        return
    job_ids, model = press
    owner = None if personal_key_choice_pending() else key_owner()
    who = Who(current_person(), owner, session_id())
    for n, job_id in enumerate(job_ids, start=1):
        intent = state.click.key if len(job_ids) == 1 else f"{state.click.key}-{n}"
        outcome = current_studio().retry(job_id, who, intent)
        follow(model, outcome.jobs)
        follow_later(model, outcome.waiting)
        if outcome.notice is not None:
            words = outcome.words
            text = " ".join(outcome.problems) if words is None else f"{words.title} {words.action}"
            state.said[job_id] = (outcome.notice, text)
        elif outcome.jobs:
            state.said[job_id] = ("sent", outcome.jobs[0].id)


def _retry_block(job: Job, key_prefix: str) -> None:
    """Under a failure: Try again with its cost (none for lack of credits: the failure says so) beside Edit and try
    again (the prompt back in the form), and what the last press did."""
    _handle_retry(key_prefix)  # a card outside the job panel (History) acts on its own press
    said = session().retry(key_prefix).said.get(job.id)
    if said and said[0] == "sent":  # one press, one new job: the card then points to it and offers no second one
        st.caption(f"Sent again as job #{said[1]}.")
        return
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        if can_retry(job):  # a job refused for credits says so above and offers nothing to press
            cost = credits_for(job.model, retry_params(job))
            st.button(
                f"Try again · {cost} credits", key=f"{key_prefix}:retry:{job.id}", on_click=_register_retry,
                args=(key_prefix, (job.id,), job.model), icon=":material/refresh:",
                help="Send the same prompt and settings as a new job.",
            )
        edit_and_retry_button(job, key=f"{key_prefix}:edit:{job.id}")
    if said and said[0] == Notice.WARN:  # it may have gone out: the words say not to press again
        st.warning(md_escape(said[1]), icon=":material/hourglass_top:")
    elif said:
        st.error(md_escape(said[1]), icon=":material/error:")


def _open_button(job_id: int, label: str, key: str) -> None:
    """A button opening result ``job_id`` in the large view (through its ``?job=`` link)."""
    st.button(label, key=key, type="tertiary", icon=":material/open_in_full:", on_click=open_link, args=(job_id,))


def _result_extras(job: Job, key_prefix: str, facts: CardFacts, person: str, *, compact: bool = False) -> None:
    """Under a finished result: its row of actions (``ui.actions.result_actions``), who made it, and where it came
    from or what was made from it. A batch's cell (``compact``) keeps one short row: Star, Full size, More."""
    result_actions(job, key_prefix, starred=job.id in facts.starred, person=person, compact=compact)
    _lineage_lines(job, key_prefix, facts)


def _lineage_lines(job: Job, key_prefix: str, facts: CardFacts) -> None:
    """Who made it, the result it was made from (opens in the large view), what was made from it, the chain's cost."""
    if job.person_name:
        st.caption(f"Made by {md_escape(job.person_name)}")
    parent = facts.parents.get(job.id)
    if parent is not None:
        _open_button(parent.id, f"From {parent.category} #{parent.id}", f"{key_prefix}:parent:{job.id}")
    made = facts.children.get(job.id, [])
    if made:
        kinds = "videos" if all(c.category == "video" for c in made) else "results"
        st.caption(f"Its {kinds}: " + ", ".join(f"#{c.id}" for c in made))
    if job.id in facts.chain_credits:
        st.caption(f"Whole chain: {facts.chain_credits[job.id]:,} credits")


def show_media(job: Job, *, width: int | str = "stretch") -> None:
    """The result (an image at most ``width`` px, or the full width), or a placeholder; its download is in the
    card's row of actions.

    One result that cannot be shown must not raise: an exception here would empty the
    whole job panel, for every viewer of that model.
    """
    try:
        _show_media(job, width=width)
    except Exception as exc:
        log.warning("job %s: result not shown (%s)", job.id, type(exc).__name__)
        st.warning("This result cannot be shown here.", icon=":material/broken_image:")


def _show_media(job: Job, *, width: int | str = "stretch") -> None:
    # Only a file saved under the media folder is ever shown: Streamlit reads a non-URL string
    # as a local path and serves it, so a service-supplied string never reaches st.image/st.video.
    path = result_file(job, current_studio().jobs.media_dir)
    if path is None:
        _media_placeholder(job)
        return
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if job.category == "video":
        st.video(path.read_bytes(), format=mime)
    else:
        show_result_image(path, width=width)


def _media_placeholder(job: Job) -> None:
    """Words instead of a result that is not saved here (yet), and Rivya's own link if it is a web link."""
    link = job.result_urls[0] if job.result_urls else None
    if link is None:
        st.warning("The service reported success but sent no result link.")
        return
    if job.awaits_media:
        st.info("The result is being saved…", icon=":material/downloading:")
        return
    st.warning("This result could not be saved here.", icon=":material/broken_image:")
    if is_web_url(link):
        st.link_button("Open Rivya's link", link, icon=":material/open_in_new:")


def show_thumbnail(job: Job) -> None:
    """The result's saved thumbnail (a small JPEG beside it, inlined: a few KB), or words if there is none.

    Used where several results are listed: reading and sending each full result on every page run
    costs far more than the list is worth. Never raises, as ``show_media``.
    """
    try:
        media_dir = current_studio().jobs.media_dir
        path = result_file(job, media_dir)
        if path is None:
            _media_placeholder(job)
            return
        # The follower makes it after saving; made here once if it did not. It passes the same check as the
        # result: only a file inside the media folder is read.
        small = shown_thumbnail(path, CARD, media_dir)
        if small is None:
            st.caption("No preview of this result.")
            return
        st.image(data_uri(small))
    except Exception as exc:
        log.warning("job %s: thumbnail not shown (%s)", job.id, type(exc).__name__)
        st.warning("This result cannot be shown here.", icon=":material/broken_image:")


def _model_name(model: str) -> str:
    """The model's display name, escaped for markdown."""
    return md_escape(display_name(model))


class CardMode(Enum):
    """Where a card is drawn, which decides all it shows: one mode per place rather than flags to combine."""

    LIVE = "live"  # a running job in the panel's live part: redrawn by every refresh, so few elements, details on request
    LIVE_TAKE = "live take"  # a running take in the live part's grid: status and time only (its box names the rest)
    NEWEST = "newest"  # the panel's newest finished result, at full size
    FINISHED = "finished"  # an older one: its thumbnail; Full size opens the large view
    TAKE = "take"  # a take in a batch's grid, drawn by the page run: thumbnail, one short row (Star, Full size, More)
    SELECTED = "selected"  # History's selected job: full size (at most ``image_width``), prompt and settings open


@dataclass(frozen=True)
class _Card:
    """One card's job and what its pieces share."""

    job: Job
    key_prefix: str
    typical: float
    facts: CardFacts | None
    person: str | None
    image_width: int | str


def job_card(
    job: Job,
    mode: CardMode,
    *,
    key_prefix: str,
    typical: float | None = None,
    facts: CardFacts | None = None,
    person: str | None = None,
    image_width: int | str = "stretch",
) -> None:
    """One job: status, time, progress, then its result or its failure in plain words, drawn as ``mode`` says.

    A finished card (not a live one) carries its row of actions (``ui.actions.result_actions``; the star is
    ``person``'s, a ``rivya.people.star_owner`` value), lineage and Try again; ``facts`` holds what the page run read
    for all cards at once (a card on its own reads its own). ``typical`` is how long such a job usually takes (the
    progress bar's scale; by default ``rivya.typical``'s rule for its model and settings, as the follower's).
    """
    typical = typical or current_studio().jobs.typical.seconds(job)
    card = _Card(job, key_prefix, typical, facts, person, image_width)
    with st.container(border=True, key=f"{key_prefix}:card:{job.id}"):
        _RENDERERS[mode](card)


def _live_card(card: _Card) -> None:
    """A running job in the live part, drawn anew by each refresh: one line of status and time."""
    _live_header(card.job)
    _body(card, lambda: show_media(card.job), retry=False)
    _finished_extras(card, compact=False)  # a result being saved already has its actions
    _details_box(card, "Prompt and settings")


def _live_take_card(card: _Card) -> None:
    """A running take in the live part's grid."""
    _take_header(card.job)
    _body(card, lambda: show_media(card.job), retry=False)
    _finished_extras(card, compact=True)
    _details_box(card, "Details")


def _newest_card(card: _Card) -> None:
    """The panel's newest finished result, at full size."""
    _header(card.job)
    _body(card, lambda: show_media(card.job, width=card.image_width), retry=True)
    _finished_extras(card, compact=False)
    _details_box(card, "Prompt and settings")


def _finished_card(card: _Card) -> None:
    """An older finished result: its thumbnail; its row's Full size opens the large view."""
    _header(card.job)
    _body(card, lambda: show_thumbnail(card.job), retry=True)
    _finished_extras(card, compact=False)
    _details_box(card, "Prompt and settings")


def _take_card(card: _Card) -> None:
    """A take in a batch's grid: status and time taken only (the batch's header names the model and when it was sent)."""
    _take_header(card.job)
    _body(card, lambda: show_thumbnail(card.job), retry=True)
    _finished_extras(card, compact=True)
    _details_box(card, "Details")


def _selected_card(card: _Card) -> None:
    """History's selected job: full size, its prompt and settings shown open."""
    _header(card.job)
    _body(card, lambda: show_media(card.job, width=card.image_width), retry=True)
    _finished_extras(card, compact=False)
    _details(card.job)
    _admin_details(card.job)


_RENDERERS: dict[CardMode, Callable[[_Card], None]] = {
    CardMode.LIVE: _live_card,
    CardMode.LIVE_TAKE: _live_take_card,
    CardMode.NEWEST: _newest_card,
    CardMode.FINISHED: _finished_card,
    CardMode.TAKE: _take_card,
    CardMode.SELECTED: _selected_card,
}


def _status(job: Job) -> tuple[str, str]:
    """The status's words and icon; a status the service sent that the app does not know is shown as sent, never hidden."""
    return md_escape(status_word(job.status)), STATUS_ICONS.get(job.status, ":material/help:")


def _took(job: Job) -> str:
    return f"took {seconds(job.elapsed_seconds)}" if job.is_done else f"running {seconds(job.elapsed_seconds)}"


def _number(job: Job) -> str:
    """The number "Sent again as job #7" and "From image #7" refer to."""
    return f":gray[#{job.id}]"


def _header(job: Job) -> None:
    """Status, model and number; beside them the time taken and when it was sent."""
    label, icon = _status(job)
    head, when = st.columns([3, 2])
    head.markdown(f"{icon} **{label}** · {_model_name(job.model)} · {_number(job)}")
    when.caption(f"{_took(job)} · sent {local_time(job.submitted_at)}")


def _live_header(job: Job) -> None:
    """The header in one element (a refresh redraws as few as it can)."""
    label, icon = _status(job)
    st.markdown(f"{icon} **{label}** · {_model_name(job.model)} · {_number(job)}  \n"
                f":small[:gray[{_took(job)} · sent {local_time(job.submitted_at)}]]")


def _take_header(job: Job) -> None:
    """A take's status and time taken: the batch's header names the model and the time."""
    label, icon = _status(job)
    st.markdown(f"{icon} **{label}** · {_number(job)}  \n:small[:gray[{_took(job)}]]")


def _body(card: _Card, result: Callable[[], None], *, retry: bool) -> None:
    """Progress while running; once finished, ``result()`` or the failure in words (with Try again if ``retry``);
    then a note on results the model made beyond what was fetched."""
    job = card.job
    if not job.is_done:
        _progress(job, card.typical)
    elif job.status == JobStatus.SUCCEEDED:
        result()
    else:
        _failure(job)
        if retry:
            _retry_block(job, card.key_prefix)
    if job.status == JobStatus.SUCCEEDED and (note := offered_note(job)):
        st.caption(note, help="Only as many results as this model makes were fetched and stored; the other links were not.")


def _progress(job: Job, typical: float) -> None:
    """How far a running job is against its typical time, and why a job that is not confirmed yet waits."""
    label = _status(job)[0]
    fraction = min(0.95, job.elapsed_seconds / typical) if job.status != JobStatus.SUBMITTING else 0.02
    st.progress(fraction, text=f"{label}… usually about {seconds(typical)}")
    if job.status == JobStatus.SUBMITTING and job.error_code:
        st.caption(
            "Rivya did not confirm yet. Don't press Generate again: the app re-sends this same request "
            "until Rivya answers, so it is never charged twice."
        )
    elif job.status != JobStatus.SUBMITTING and not is_known(job.status):
        st.caption("Rivya reports a status this app does not know; it keeps checking, more slowly.")


def _failure(job: Job) -> None:
    """What went wrong in plain words, what Rivya said (and its error code) if that adds anything, and what became
    of the credits."""
    words = UNCONFIRMED if job.status == JobStatus.UNCONFIRMED else explain_code(job.error_code)
    message = f"**{md_escape(words.title)}** {md_escape(words.action)}"
    said = service_said(job.error_message, job.error_code, words.title)
    if said:
        message += f"\n\n{md_escape(said)}"
    st.error(message, icon=":material/error:")
    if job.credits_returned:
        st.caption(f"{job.credits_returned} credits were returned to the wallet.")
    elif job.status == JobStatus.REJECTED and job.error_code in REFUSAL_CODES:
        st.caption("Rivya refused it, so no credits were charged.")


def _finished_extras(card: _Card, *, compact: bool) -> None:
    """Under a finished card: a result's row of actions and lineage, a failure's lineage; nothing while running."""
    job = card.job
    if not job.is_done:
        return
    person = star_owner(current_person()) if card.person is None else card.person
    facts = read_facts(current_studio().log, [job], person) if card.facts is None else card.facts
    if job.status == JobStatus.SUCCEEDED:
        _result_extras(job, card.key_prefix, facts, person, compact=compact)
    else:
        _lineage_lines(job, card.key_prefix, facts)


def _details_box(card: _Card, title: str) -> None:
    """The prompt, settings and cost behind ``title`` (for admins, the raw form too), built only while open.

    Keyed by the job, so the live card and the finished card that replaces it (drawn elsewhere: the page run's list
    instead of the live part) are one expander: one the person opened stays open as the job finishes. An expander
    whose open state Streamlit tracks reruns the script when toggled; that rerun also builds its content only then.
    """
    box = st.expander(title, key=f"{card.key_prefix}:details:{card.job.id}", on_change="rerun")
    if box.open:
        with box:
            _details(card.job)
            _admin_details(card.job, nested=True)


def _details(job: Job) -> None:
    """The prompt, the settings in words and what the job cost or holds: what a person needs to make it again
    (the row of actions has Use these settings and Copy link)."""
    st.text(job.prompt or "(no prompt)")
    shown = {k: v for k, v in job.params.items() if v is not None and v != ""}  # an unset setting is not "None"
    described = describe_params(job.model, shown)
    if described:
        st.caption(md_escape(described))
    st.caption(cost_words(job))


def _admin_details(job: Job, *, nested: bool = False) -> None:
    """For admins only, behind "Details for admins": what Rivya was sent and answered (raw settings, how often the
    app asked for the status, the task id), for tracing a job. A person's view never shows raw JSON."""
    if not is_admin():
        return
    box = st.container(border=True) if nested else st.expander("Details for admins", icon=":material/admin_panel_settings:")
    with box:
        if nested:  # inside a card's own expander, where Streamlit allows no second one
            st.caption(":material/admin_panel_settings: Details for admins")
        st.json(dict(job.params), expanded=True)
        st.caption(f"Status checks with Rivya: {job.polls}")
        if job.error_code:
            st.caption(f"Error code: {md_escape(job.error_code)}")
        if job.task_id:
            st.caption("Rivya task id")
            st.code(job.task_id, language=None)


def _load(log: TaskLog, model: str, followed: Iterable[int], limit: int) -> list[Job]:
    """The model's newest jobs and this session's own, newest first: two small reads of the log."""
    recent = {j.id: j for j in log.recent(model=model, limit=limit)}
    recent.update({j.id: j for j in log.many(i for i in followed if i not in recent)})
    return sorted(recent.values(), key=lambda j: j.id, reverse=True)


def _whole_batches(log: TaskLog, jobs: list[Job]) -> list[Job]:
    """``jobs`` plus the members of their batches that the recent window cut off (one read, only when batches show)."""
    batches = sorted({j.batch_id for j in jobs if j.batch_id})
    if not batches:
        return jobs
    have = {j.id for j in jobs}
    more = [j for j in log.in_batches(batches) if j.id not in have]
    return sorted([*jobs, *more], key=lambda j: j.id, reverse=True) if more else jobs


def _grid(jobs: list[Job], draw: Callable[[Job], None], size: int) -> None:
    """``draw(job)`` for each job in rows as wide as a batch of ``size`` needs, so its finished and running takes
    line up: one row up to ``GRID_COLUMNS``, 2 x 2 for four."""
    width = 2 if size == 4 else min(GRID_COLUMNS, size)
    for row in range(0, len(jobs), width):
        for column, job in zip(st.columns(width), jobs[row : row + width], strict=False):
            with column:
                draw(job)


def jobs_panel(studio: Studio, model: str, followed: list[int], *, limit: int = 6) -> None:
    """Jobs in progress (refreshing themselves), then finished results, newest first; a batch as one group.

    This session's jobs and the model's recent ones, drawn as ``rivya.panel.plan_panel`` decides. The live part
    refreshes only while some job is in progress, at the plan's pace; a job that settles brings one page run,
    which moves it into the finished list (and stops the refreshes when none is left). A batch's
    finished takes fill its grid that way, one page run each, while its running takes stay live.
    """
    key_prefix = f"{model}:panel"
    _handle_retry(key_prefix)  # before reading the log, so a new job shows in this very run
    jobs = _whole_batches(studio.log, _load(studio.log, model, followed, limit))
    if not jobs:
        st.caption("Your results will appear here.")
        return
    studio.jobs.typical.refresh(studio.log)  # at most once a minute: the follower's figures where it runs here
    plan = plan_panel(jobs, followed, studio.jobs.typical.seconds, datetime.now(UTC))
    live = _live_part(studio, plan, model, key_prefix, limit)
    if plan.live_above:
        live()
    person = star_owner(current_person())
    facts = read_facts(studio.log, list(plan.settled), person)
    for group in plan.groups:
        if group.is_batch:
            _batch_box(group, plan, key_prefix, facts, person, live)
        elif group.page_drawn:
            mode = CardMode.NEWEST if group.full_size else CardMode.FINISHED
            job_card(group.page_drawn[0], mode, typical=plan.typical(group.page_drawn[0]), key_prefix=key_prefix,
                     facts=facts, person=person)


def _live_part(studio: Studio, plan: PanelPlan, model: str, key_prefix: str, limit: int) -> Callable[[], None]:
    """The fragment that redraws the running jobs' cards at the plan's pace, and turns into a page run when
    the plan no longer holds (a job settled, or the pace should change)."""

    def live() -> None:
        # One counter read while the log is unchanged; the rows again only when it moved (ui/live.py).
        current = read_on_change(studio.log, key_prefix, lambda: _load(studio.log, model, plan.watched, limit),
                                 inputs=(plan.watched, limit))
        if plan.needs_page_run(current, datetime.now(UTC)):
            st.rerun()
        shown = plan.live_cards(current)  # newest first
        if plan.host:
            _grid(shown[::-1], lambda j: job_card(j, CardMode.LIVE_TAKE, typical=plan.typical(j), key_prefix=key_prefix),
                  plan.host_size)
        else:
            for job in shown:
                job_card(job, CardMode.LIVE, typical=plan.typical(job), key_prefix=key_prefix)

    # Woken when the log changes (ui/live.py); the timer only moves the running cards' time and progress bars, at the
    # slow pace (the plan's faster pace near a job's expected finish was for catching the finish: the wake does that,
    # and the plan's pace is the fallback while the page cannot be told of changes). A refresh during an outage turns
    # the page to its outage notice instead of a traceback.
    return live_fragment(live, name=f"panel-{model}", fallback=plan.interval or SLOW_REFRESH_SECONDS,
                         safety=SLOW_REFRESH_SECONDS)


def _batch_box(
    group: PanelGroup, plan: PanelPlan, key_prefix: str, facts: CardFacts, person: str, live: Callable[[], None]
) -> None:
    """One batch in a box: what was sent and how many takes are on their way, then its takes in a grid, take 1
    first (the live part, if this batch hosts it, draws the running ones under the others)."""
    first, on_way = group.first, group.on_their_way
    with st.container(border=True, key=f"{key_prefix}:batch:{first.id}"):
        st.markdown(f"{batch_header(list(group.jobs))} · {_model_name(first.model)}  \n"
                    f":small[:gray[sent {local_time(first.submitted_at)}{f' · {on_way} on their way' if on_way else ''}]]")
        st.caption(md_escape(first.prompt[:200]))
        _batch_retry(group, key_prefix)
        if group.page_drawn:
            _grid(list(group.page_drawn), lambda j: job_card(j, CardMode.TAKE, typical=plan.typical(j), key_prefix=key_prefix,
                                                             facts=facts, person=person), len(group.jobs))
        if group.hosts_live:
            live()


def _batch_retry(group: PanelGroup, key_prefix: str) -> None:
    """"Try the N again · cost" for a batch with several failed takes that may be tried again and were not yet:
    one press, each take sent again under its own key (``_handle_retry``), nothing sent twice."""
    said = session().retry(key_prefix).said
    failed = [j for j in sorted(group.jobs, key=lambda j: j.id)
              if j.is_done and can_retry(j) and said.get(j.id, ("",))[0] != "sent"]
    if len(failed) < 2:  # one failed take offers its own Try again
        return
    cost = sum(credits_for(j.model, retry_params(j)) for j in failed)
    st.button(
        f"Try the {len(failed)} again · {cost:,} credits", key=f"{key_prefix}:retry-batch:{group.first.id}",
        on_click=_register_retry, args=(key_prefix, tuple(j.id for j in failed), group.first.model),
        icon=":material/refresh:", help="Send each failed take's prompt and settings again, as new jobs.",
    )
