"""The History & credits page: every job in the log and what it cost."""

from __future__ import annotations

import streamlit as st

from ui.services import demo_banner, ensure_navigation, get_studio


def history_page() -> None:
    ensure_navigation()
    studio = get_studio()
    st.title("History & credits", anchor=False)
    demo_banner(studio)
    frame = studio.log.frame()
    if frame.empty:
        st.caption("No jobs yet.")
        return
    st.dataframe(
        frame[["submitted_at", "model", "status", "prompt", "reserved_credits", "final_credits", "task_id"]],
        hide_index=True,
    )
