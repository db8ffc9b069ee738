"""History & credits page: the balance, the team's figures, the jobs table and the selected job's card."""

from __future__ import annotations

import streamlit as st

from rivya.people import Person
from rivya.studio import Studio
from ui.access import auth_configured, current_person, is_admin, page_access
from ui.compare import draw_compare
from ui.history import (
    SELECTED_IMAGE_PX,
    balance_row,
    charts,
    figures,
    job_filters,
    jobs_table,
    my_spend,
    page_number,
    selection_actions,
    spend_by_person,
    stuck_jobs,
)
from ui.history_watch import follow_history, start_history
from ui.jobs_view import CardMode, job_card
from ui.live import hand_over
from ui.outage import log_unreachable

studio = page_access()  # first, whatever started this script: nothing is drawn before the password


def history_page(studio: Studio) -> None:
    """The balance row on top is filled last: it may wait for Rivya, and the table need not wait with it."""
    person = current_person()
    st.title("History & credits", anchor=False)
    if log_unreachable():  # the notice above says why; the figures and the table all read the log
        st.caption("Jobs and spending show here again once the job log can be reached.")
        return
    start_history(studio)  # before the figures and the table read the log
    top = st.container()
    _history(studio, person)
    follow_history(studio)
    draw_compare("history")
    with top:  # filled last: the balance may wait for Rivya's answer, and the table need not wait with it
        balance_row(studio, person)


def _history(studio: Studio, person: Person | None) -> None:
    if not studio.ledger.total():
        st.caption("No jobs yet. Make an image or a video and it will show up here.")
        return
    figures(studio)
    if person is not None:
        my_spend(studio, person)
    stuck_jobs(studio)
    # Charts and the spend table are built only while their tab is open: they cost more than the rest of the page.
    # The jobs tab always runs, so its filters keep their values while another tab is shown.
    admin = is_admin()
    tabs = st.tabs(["Jobs", "Charts", *(["Spend per person"] if admin else [])], key="history:tab", on_change="rerun")
    jobs_tab, charts_tab = tabs[:2]
    if charts_tab.open:
        with charts_tab:
            charts(studio)
    if admin and tabs[2].open:
        with tabs[2]:
            spend_by_person(studio)
    with jobs_tab:
        _jobs(studio, person)


@st.fragment
def _jobs(studio: Studio, person: Person | None) -> None:
    """Filters, table and the selected job: a fragment, so a filter, a page or a selection reruns this part only
    (the figures above do not change with them, and each of their reruns costs a query and a redraw)."""
    hand_over()  # Compare, Full size, Use these settings, Animate on the selected job: the page run acts on them
    jobs = job_filters(studio, person)
    matching = studio.ledger.count(jobs)
    # The buttons first, on the left: the table's own toolbar appears top right on hover and would cover them (on a
    # phone, a short count beside them leaves them under it); the count follows them.
    with st.container(horizontal=True, vertical_alignment="center"):
        made_by = auth_configured()
        st.download_button(
            "Download CSV", lambda: studio.ledger.to_csv(jobs, made_by=made_by), file_name="imagine-studio-jobs.csv",
            mime="text/csv", icon=":material/download:", on_click="ignore", key="history:csv", type="tertiary",
        )
        number, pages = page_number(jobs, matching)
        st.caption(f"{matching:,} of {studio.ledger.total():,} jobs, newest first"
                   + (f" · page {number:,} of {pages:,}" if pages > 1 else ""), width="content")
    selected = jobs_table(studio, jobs, number)
    chosen = sorted(studio.log.many(selected), key=lambda j: selected.index(j.id))
    if chosen:
        selection_actions(chosen)
    if len(chosen) == 1:
        st.subheader("Selected job", anchor=False)
        job_card(chosen[0], CardMode.SELECTED, key_prefix="history", image_width=SELECTED_IMAGE_PX)


history_page(studio)
