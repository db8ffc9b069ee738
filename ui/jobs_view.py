"""Job cards and the self-refreshing job panel."""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import streamlit as st

from rivya.catalog import MODELS
from rivya.messages import explain_code
from rivya.tasklog import REJECTED, SUBMITTING, Job
from ui.form import prefill
from ui.services import PAGE_FOR_CATEGORY, get_studio
from ui.text import md_escape, seconds

REFRESH_SECONDS = 1.0
TYPICAL_SECONDS = {"image": 10.0, "video": 30.0}
STATUS_LABELS = {
    SUBMITTING: ("Sending", ":material/upload:"),
    "queued": ("Queued", ":material/hourglass_empty:"),
    "processing": ("Generating", ":material/autorenew:"),
    "succeeded": ("Done", ":material/check_circle:"),
    "failed": ("Failed", ":material/error:"),
    REJECTED: ("Not started", ":material/block:"),
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
    done = [j.elapsed_seconds for j in jobs if j.status == "succeeded" and j.category == category]
    return median(done) if len(done) >= 3 else TYPICAL_SECONDS.get(category, 20.0)


def show_media(job: Job, *, key_prefix: str) -> None:
    """The result at full width with a download of the original bytes."""
    path = Path(job.media_paths[0]) if job.media_paths else None
    source = str(path) if path and path.exists() else (job.result_urls[0] if job.result_urls else None)
    if source is None:
        st.warning("The service reported success but sent no result link.")
        return
    if job.category == "video":
        st.video(source)
    else:
        st.image(source, width="stretch")
    if path and path.exists():
        st.download_button(
            "Download",
            data=path.read_bytes,  # read on click, not on every rerun of the panel
            file_name=f"imagine-{job.id}{path.suffix}",
            mime=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            key=f"{key_prefix}:download:{job.id}",
            icon=":material/download:",
            on_click="ignore",
        )


def job_card(
    job: Job, *, key_prefix: str, typical: float | None = None, large: bool = True, details: bool = False
) -> None:
    """One job: status, time, progress, then its result or its failure in plain words."""
    label, icon = STATUS_LABELS.get(job.status, (job.status.title(), ":material/help:"))
    typical = typical or TYPICAL_SECONDS.get(job.category, 20.0)
    with st.container(border=True):
        head, when = st.columns([3, 2])
        head.markdown(f"{icon} **{label}** · {md_escape(MODELS[job.model].display_name if job.model in MODELS else job.model)}")
        took = f"took {seconds(job.elapsed_seconds)}" if job.is_done else f"running {seconds(job.elapsed_seconds)}"
        when.caption(f"{took} · sent {_when(job.submitted_at)}")
        if not job.is_done:
            fraction = min(0.95, job.elapsed_seconds / typical) if job.status != SUBMITTING else 0.02
            st.progress(fraction, text=f"{label}… usually about {seconds(typical)}")
            if job.status == SUBMITTING and job.error_code:
                st.caption("Rivya did not confirm yet; the app retries with the same request, so you are never charged twice.")
        elif job.status == "succeeded" and large:
            show_media(job, key_prefix=key_prefix)
        elif job.status == "succeeded":
            with st.expander("Show result"):
                show_media(job, key_prefix=key_prefix)
        else:
            words = explain_code(job.error_code)
            message = f"**{md_escape(words.title)}** {md_escape(words.action)}"
            said = (job.error_message or "").strip()
            if said and said.rstrip(".").lower() != words.title.rstrip(".").lower():
                message += f"\n\nRivya said: {md_escape(said)}"
            st.error(message, icon=":material/error:")
            if job.credits_returned:
                st.caption(f"{job.credits_returned} credits were returned to the wallet.")
            elif job.status == REJECTED:
                st.caption("No credits were charged.")
        with st.expander("Prompt and settings", expanded=details):
            st.text(job.prompt)
            st.json({k: v for k, v in job.params.items()}, expanded=True)
            cost = job.final_credits if job.status == "succeeded" else job.reserved_credits
            st.caption(f"Credits: {cost if cost is not None else '—'} · polls: {job.polls}")
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

    pending_at_start = any(not j.is_done for j in load())

    @st.fragment(run_every=REFRESH_SECONDS if pending_at_start else None)
    def panel() -> None:
        jobs = load()
        if pending_at_start and all(j.is_done for j in jobs):
            st.rerun()  # stop the timer: nothing is left to follow
        if not jobs:
            st.caption("Your results will appear here.")
            return
        typical = _typical_seconds(jobs, MODELS[model].category)
        first, *rest = jobs
        job_card(first, typical=typical, key_prefix=f"{model}:panel")
        for job in rest:
            job_card(job, typical=typical, key_prefix=f"{model}:panel", large=not job.is_done)

    panel()
