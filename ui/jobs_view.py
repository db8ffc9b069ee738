"""Job cards and the job panel: finished results drawn once per page run, jobs in progress refreshed live.

What a refresh costs is paid by every open tab every second or so, so the live part holds only
the jobs still in progress: a refresh re-reads a few log rows and redraws a few small cards,
never a result file. Finished results are drawn by the page run (the newest at full size, older
ones as their saved thumbnails, full size on request).
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Iterable
from datetime import UTC, datetime
from statistics import median

import streamlit as st

from rivya.catalog import MODELS
from rivya.jobs import REFUSAL_CODES
from rivya.media import data_uri, saved_media, thumbnail
from rivya.messages import UNCONFIRMED, explain_code
from rivya.resources import is_web_url
from rivya.status import JobStatus, is_known
from rivya.tasklog import Job, TaskLog
from ui.form import prefill
from ui.services import GOTO_PAGE, PAGE_FOR_CATEGORY, get_studio
from ui.text import md_escape, seconds

log = logging.getLogger("ui.jobs_view")

# The follower updates a job's row every few seconds at most, so refreshing every second pays off
# only when a job may finish any moment: from a little before its typical duration until well past it.
FAST_REFRESH_SECONDS = 1.0
SLOW_REFRESH_SECONDS = 4.0
FAST_LEAD_SECONDS = 3.0
OVERDUE_FACTOR = 3.0  # past 3x its typical time a job has no expected finish left: slow refreshes again
TYPICAL_SECONDS = {"image": 10.0, "video": 30.0}
STATUS_LABELS = {
    JobStatus.SUBMITTING: ("Sending", ":material/upload:"),
    JobStatus.QUEUED: ("Queued", ":material/hourglass_empty:"),
    JobStatus.PROCESSING: ("Generating", ":material/autorenew:"),
    JobStatus.SUCCEEDED: ("Done", ":material/check_circle:"),
    JobStatus.FAILED: ("Failed", ":material/error:"),
    JobStatus.REJECTED: ("Not started", ":material/block:"),
    JobStatus.UNCONFIRMED: ("Unconfirmed", ":material/help:"),
}


def _use_settings(job: Job) -> None:
    """Button callback: refill the right page's form and go there (no job is created)."""
    prefill(MODELS[job.model], job.prompt, job.params)
    st.session_state[GOTO_PAGE] = PAGE_FOR_CATEGORY[MODELS[job.model].category]


def _when(iso: str) -> str:
    """``14:05 UTC`` today, ``Nov 21, 14:05 UTC`` before."""
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    today = datetime.now(UTC).date()
    return f"{moment:%H:%M} UTC" if moment.date() == today else f"{moment:%b %d, %H:%M} UTC"


def _typical_seconds(jobs: list[Job], category: str) -> float:
    done = [j.elapsed_seconds for j in jobs if j.status == JobStatus.SUCCEEDED and j.category == category]
    return median(done) if len(done) >= 3 else TYPICAL_SECONDS.get(category, 20.0)


def is_settled(job: Job) -> bool:
    """Nothing more will change on its card: finished, and its result saved (or given up on)."""
    return job.is_done and not job.awaits_media


def refresh_interval(jobs: Iterable[Job], typical: float, now: datetime | None = None) -> float | None:
    """Seconds between refreshes of the live cards; None when no job is left to follow.

    Fast while a result is being saved or a job is near its expected finish (``typical`` seconds
    after it was sent, give or take), slow otherwise.
    """
    now = now or datetime.now(UTC)
    interval = None
    for job in jobs:
        if is_settled(job):
            continue
        elapsed = (now - datetime.fromisoformat(job.submitted_at)).total_seconds()
        if job.awaits_media or typical - FAST_LEAD_SECONDS <= elapsed <= typical * OVERDUE_FACTOR:
            return FAST_REFRESH_SECONDS
        interval = SLOW_REFRESH_SECONDS
    return interval


def needs_page_run(
    jobs: list[Job], settled_before: frozenset[int], armed: float | None, typical: float, now: datetime | None = None
) -> bool:
    """Whether a refresh must become a page run: a job has settled since (its result joins the finished
    list, drawn by the page run) or the refresh pace should change (only a page run re-arms the timer)."""
    newly_settled = any(is_settled(j) and j.id not in settled_before for j in jobs)
    return newly_settled or refresh_interval(jobs, typical, now) != armed


def show_media(job: Job, *, key_prefix: str) -> None:
    """The result at full width with a download of the original bytes, or a placeholder.

    One result that cannot be shown must not raise: an exception here would empty the
    whole job panel, for every viewer of that model.
    """
    try:
        _show_media(job, key_prefix=key_prefix)
    except Exception as exc:
        log.warning("job %s: result not shown (%s)", job.id, type(exc).__name__)
        st.warning("This result cannot be shown here.", icon=":material/broken_image:")


def _show_media(job: Job, *, key_prefix: str) -> None:
    # Only a file saved under the media folder is ever shown: Streamlit reads a non-URL string
    # as a local path and serves it, so a service-supplied string never reaches st.image/st.video.
    path = saved_media(job.media_paths[0] if job.media_paths else None, get_studio().jobs.media_dir)
    if path is None:
        _media_placeholder(job)
        return
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if job.category == "video":
        st.video(path.read_bytes(), format=mime)
    else:
        st.image(path.read_bytes(), width="stretch")
    st.download_button(
        "Download",
        data=path.read_bytes,  # read on click, not on every rerun of the panel
        file_name=f"imagine-{job.id}{path.suffix}",
        mime=mime,
        key=f"{key_prefix}:download:{job.id}",
        icon=":material/download:",
        on_click="ignore",
    )


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
        media_dir = get_studio().jobs.media_dir
        path = saved_media(job.media_paths[0] if job.media_paths else None, media_dir)
        if path is None:
            _media_placeholder(job)
            return
        made = thumbnail(path)  # the follower makes it after saving; made here once if it did not
        # The thumbnail passes the same check as the result: only a file inside the media folder is read.
        small = saved_media(str(made) if made else None, media_dir)
        if small is None:
            st.caption("No preview of this result.")
            return
        st.image(data_uri(small))
    except Exception as exc:
        log.warning("job %s: thumbnail not shown (%s)", job.id, type(exc).__name__)
        st.warning("This result cannot be shown here.", icon=":material/broken_image:")


def job_card(
    job: Job,
    *,
    key_prefix: str,
    typical: float | None = None,
    large: bool = True,
    details: bool = False,
    live: bool = False,
) -> None:
    """One job: status, time, progress, then its result or its failure in plain words.

    ``large`` shows a finished result at full size; otherwise its thumbnail, and the full result
    only once the person opens "Full size" (its content is not even built while closed).
    ``live`` is for a card redrawn by every refresh: as few elements as possible (status and time
    in one line), and a running job's prompt and settings built only while opened.
    """
    # A status the service sent that the app does not know is shown as sent, never hidden.
    label, icon = STATUS_LABELS.get(job.status, (job.status.replace("_", " ").capitalize(), ":material/help:"))
    typical = typical or TYPICAL_SECONDS.get(job.category, 20.0)
    name = md_escape(MODELS[job.model].display_name if job.model in MODELS else job.model)
    took = f"took {seconds(job.elapsed_seconds)}" if job.is_done else f"running {seconds(job.elapsed_seconds)}"
    with st.container(border=True):
        if live:
            st.markdown(f"{icon} **{label}** · {name}  \n:small[:gray[{took} · sent {_when(job.submitted_at)}]]")
        else:
            head, when = st.columns([3, 2])
            head.markdown(f"{icon} **{label}** · {name}")
            when.caption(f"{took} · sent {_when(job.submitted_at)}")
        if not job.is_done:
            fraction = min(0.95, job.elapsed_seconds / typical) if job.status != JobStatus.SUBMITTING else 0.02
            st.progress(fraction, text=f"{label}… usually about {seconds(typical)}")
            if job.status == JobStatus.SUBMITTING and job.error_code:
                st.caption(
                    "Rivya did not confirm yet. Don't press Generate again: the app re-sends this same request "
                    "until Rivya answers, so it is never charged twice."
                )
            elif job.status != JobStatus.SUBMITTING and not is_known(job.status):
                st.caption("Rivya reports a status this app does not know; it keeps checking, more slowly.")
        elif job.status == JobStatus.SUCCEEDED and large:
            show_media(job, key_prefix=key_prefix)
        elif job.status == JobStatus.SUCCEEDED:
            show_thumbnail(job)
            full = st.expander("Full size and download", key=f"{key_prefix}:full:{job.id}", on_change="rerun")
            if full.open:
                with full:
                    show_media(job, key_prefix=key_prefix)
        else:
            words = UNCONFIRMED if job.status == JobStatus.UNCONFIRMED else explain_code(job.error_code)
            message = f"**{md_escape(words.title)}** {md_escape(words.action)}"
            said = (job.error_message or "").strip()
            if said and said.rstrip(".").lower() != words.title.rstrip(".").lower():
                message += f"\n\nRivya said: {md_escape(said)}"
            st.error(message, icon=":material/error:")
            if job.credits_returned:
                st.caption(f"{job.credits_returned} credits were returned to the wallet.")
            elif job.status == JobStatus.REJECTED and job.error_code in REFUSAL_CODES:
                st.caption("Rivya refused it, so no credits were charged.")
        if live and not job.is_done:  # a result being saved is live for a moment only: its card is drawn whole
            box = st.expander("Prompt and settings", key=f"{key_prefix}:details:{job.id}", on_change="rerun")
            if box.open:
                with box:
                    _details(job, key_prefix)
        else:
            with st.expander("Prompt and settings", expanded=details):
                _details(job, key_prefix)


def _details(job: Job, key_prefix: str) -> None:
    st.text(job.prompt)
    st.json({k: v for k, v in job.params.items()}, expanded=True)
    held = "" if job.is_done else " (held until it finishes)"
    st.caption(f"Credits: {job.charged_credits}{held} · polls: {job.polls}")
    if job.task_id:
        st.code(job.task_id, language=None)
    st.button(
        "Use these settings",
        key=f"{key_prefix}:reuse:{job.id}",
        on_click=_use_settings,
        args=(job,),
        icon=":material/replay:",
    )


def _load(log: TaskLog, model: str, followed: list[int], limit: int) -> list[Job]:
    """The model's newest jobs and this session's own, newest first: two small reads of the log."""
    recent = {j.id: j for j in log.recent(model=model, limit=limit)}
    recent.update({j.id: j for j in log.many(i for i in followed if i not in recent)})
    return sorted(recent.values(), key=lambda j: j.id, reverse=True)


def jobs_panel(model: str, followed: list[int], *, limit: int = 6) -> None:
    """Jobs in progress (refreshing themselves), then finished results, newest first.

    This session's jobs and the model's recent ones. The live part refreshes only while some job
    is in progress, at the pace ``refresh_interval`` picks; a job that settles brings one page run,
    which moves it into the finished list (and stops the refreshes when none is left).
    """
    key_prefix = f"{model}:panel"
    jobs = _load(get_studio().log, model, followed, limit)
    if not jobs:
        st.caption("Your results will appear here.")
        return
    typical = _typical_seconds(jobs, MODELS[model].category)
    settled = [j for j in jobs if is_settled(j)]
    settled_ids = frozenset(j.id for j in settled)
    interval = refresh_interval(jobs, typical)

    @st.fragment(run_every=interval)
    def live() -> None:
        if st.session_state.get(GOTO_PAGE):
            st.rerun()  # "Use these settings" on a live card: the page run switches page
        current = _load(get_studio().log, model, followed, limit)
        if needs_page_run(current, settled_ids, interval, typical):
            st.rerun()
        for job in current:
            if not is_settled(job):
                job_card(job, typical=typical, key_prefix=key_prefix, live=True)

    if interval is not None:
        live()
    for index, job in enumerate(settled):
        job_card(job, typical=typical, key_prefix=key_prefix, large=index == 0)
