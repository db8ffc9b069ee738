"""What every result offers wherever it is shown (job card, Gallery, large view, History): Animate, Star,
Use these settings. One definition each, so a favourite or a hand-off looks and behaves the same everywhere."""

from __future__ import annotations

import streamlit as st

from rivya.catalog import MODELS
from rivya.stars import set_star
from rivya.tasklog import Job
from ui.form import use_job_settings
from ui.services import PAGE_FOR_CATEGORY, current_studio
from ui.session import session


def _animate(job_id: int) -> None:
    session().animate_from = job_id
    session().goto_page = PAGE_FOR_CATEGORY["video"]


def animate_button(job: Job, *, key: str, compact: bool = False) -> None:
    """``Animate`` for a finished image whose result is saved here; nothing for anything else.

    ``compact``: the icon alone (its words in the tooltip), for a tile or a grid cell.
    """
    if job.category != "image" or not job.media_paths:
        return
    st.button("" if compact else "Animate", key=key, icon=":material/movie:", on_click=_animate, args=(job.id,),
              help="Animate: open the Video page with this image attached and its prompt filled in.")


def _toggle_star(job_id: int, person: str, starred: bool) -> None:
    set_star(current_studio().log, job_id, person, starred)


def star_button(job_id: int, starred: bool, person: str, *, key: str) -> None:
    """One star that toggles, for ``person`` (a ``rivya.people.star_owner`` value); a result is a favourite or
    not (``st.feedback``'s five stars would rate it)."""
    st.button(
        "Starred" if starred else "Star",
        key=key,
        icon=":material/star:" if starred else ":material/star_outline:",
        type="primary" if starred else "secondary",
        on_click=_toggle_star,
        args=(job_id, person, not starred),
        help="Remove from favourites" if starred else "Add to favourites",
    )


def use_settings_button(job: Job, *, key: str) -> None:
    """Disabled for a model this app no longer offers (its form does not exist)."""
    st.button("Use these settings", key=key, on_click=use_job_settings, args=(job,), icon=":material/replay:",
              disabled=job.model not in MODELS,
              help="Fill the form with this prompt and these settings; nothing is sent until you press Generate.")
