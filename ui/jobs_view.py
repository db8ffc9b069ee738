"""Job cards and the self-refreshing job panel."""

from __future__ import annotations

import logging
import mimetypes
from datetime import UTC, datetime
from statistics import median

import streamlit as st

from rivya.catalog import MODELS
from rivya.jobs import REFUSAL_CODES
from rivya.media import saved_media
from rivya.messages import UNCONFIRMED, explain_code
from rivya.resources import is_web_url
from rivya.status import JobStatus, is_known
from rivya.tasklog import Job
from ui.form import prefill
from ui.services import PAGE_FOR_CATEGORY, get_studio
from ui.text import md_escape, seconds

log = logging.getLogger("ui.jobs_view")

REFRESH_SECONDS = 1.0
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
    st.session_state["goto_page"] = PAGE_FOR_CATEGORY[MODELS[job.model].category]


def follow_redirect() -> None:
    """Switch page if a "Use these settings" button asked for it in the last run."""
    target = st.session_state.pop("goto_page", None)
    if target:
        st.switch_page(target)


def _when(iso: str) -> str:
    """``14:05 UTC`` today, ``Nov 21, 14:05 UTC`` before."""
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    today = datetime.now(UTC).date()
    return f"{moment:%H:%M} UTC" if moment.date() == today else f"{moment:%b %d, %H:%M} UTC"


def _typical_seconds(jobs: list[Job], category: str) -> float:
    done = [j.elapsed_seconds for j in jobs if j.status == JobStatus.SUCCEEDED and j.category == category]
    return median(done) if len(done) >= 3 else TYPICAL_SECONDS.get(category, 20.0)


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


def job_card(
    job: Job, *, key_prefix: str, typical: float | None = None, large: bool = True, details: bool = False
) -> None:
    """One job: status, time, progress, then its result or its failure in plain words."""
    # A status the service sent that the app does not know is shown as sent, never hidden.
    label, icon = STATUS_LABELS.get(job.status, (job.status.replace("_", " ").capitalize(), ":material/help:"))
    typical = typical or TYPICAL_SECONDS.get(job.category, 20.0)
    with st.container(border=True):
        head, when = st.columns([3, 2])
        head.markdown(f"{icon} **{label}** · {md_escape(MODELS[job.model].display_name if job.model in MODELS else job.model)}")
        took = f"took {seconds(job.elapsed_seconds)}" if job.is_done else f"running {seconds(job.elapsed_seconds)}"
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
            with st.expander("Show result"):
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
        with st.expander("Prompt and settings", expanded=details):
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


def jobs_panel(model: str, followed: list[int], *, limit: int = 6) -> None:
    """This session's jobs and the model's recent ones, refreshed only while some are pending."""
    log = get_studio().log

    def load() -> list[Job]:
        recent = {j.id: j for j in log.recent(model=model, limit=limit)}
        recent.update({j.id: j for j in log.many(i for i in followed if i not in recent)})
        return sorted(recent.values(), key=lambda j: j.id, reverse=True)

    def unsettled(jobs: list[Job]) -> bool:
        return any(not j.is_done or j.awaits_media for j in jobs)

    pending_at_start = unsettled(load())

    @st.fragment(run_every=REFRESH_SECONDS if pending_at_start else None)
    def panel() -> None:
        jobs = load()
        if pending_at_start and not unsettled(jobs):
            st.rerun()  # stop the timer: nothing is left to follow or to save
        if not jobs:
            st.caption("Your results will appear here.")
            return
        typical = _typical_seconds(jobs, MODELS[model].category)
        first, *rest = jobs
        job_card(first, typical=typical, key_prefix=f"{model}:panel")
        for job in rest:
            job_card(job, typical=typical, key_prefix=f"{model}:panel", large=not job.is_done)

    panel()
