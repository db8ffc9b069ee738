"""Image page: everything on it comes from the catalog entry for grok-imagine."""

from __future__ import annotations

import streamlit as st

from rivya.catalog import get_model
from rivya.studio import Studio
from ui.access import page_access
from ui.generate import generate_form, results_panel
from ui.outage import log_down
from ui.text import md_escape

studio = page_access()  # first, whatever started this script: nothing is drawn before the password


def image_page(studio: Studio) -> None:
    """The form on the left, this session's jobs and results on the right."""
    spec = get_model("grok-imagine")
    down = log_down()  # the job log cannot be reached: the main script's notice says so; the form waits with Generate off
    st.title("Image", anchor=False)  # the navigation's name of this page
    st.caption(f"Model: {md_escape(spec.display_name)}")
    form, panel = st.columns([5, 6], gap="large")
    with form:
        generate_form(studio, spec, down=down)
    with panel:
        results_panel(studio, spec.id, down=down)


image_page(studio)
