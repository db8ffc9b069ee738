"""Animate: the button every image result carries, which opens the Video page with that image attached."""

from __future__ import annotations

import streamlit as st

from rivya.tasklog import Job
from ui.services import GOTO_PAGE, PAGE_FOR_CATEGORY

# session_state key read by the Video page: the id of the image job whose saved result becomes the reference.
ANIMATE_FROM = "animate_from"


def _animate(job_id: int) -> None:
    st.session_state[ANIMATE_FROM] = job_id
    st.session_state[GOTO_PAGE] = PAGE_FOR_CATEGORY["video"]


def animate_button(job: Job, *, key: str) -> None:
    """``Animate`` for a finished image whose result is saved here; nothing for anything else."""
    if job.category != "image" or not job.media_paths:
        return
    st.button("Animate", key=key, icon=":material/movie:", on_click=_animate, args=(job.id,),
              help="Open the Video page with this image attached and its prompt filled in.")
