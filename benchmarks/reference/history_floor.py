"""Reference app (e): what History shows, drawn the plain Streamlit way from the same seeded log (issue 21's floor
for History; (b) shows far less). Streamlit, pandas and the standard library only: no Studio code.

The sidebar holds what every Studio page's does: six pages, the sound toggle and the key popover. History's page:
the title; the balance with its read time and Refresh; the team's five figures and their three lines; the Jobs and
Charts tabs (Charts drawn only while open, as History's); and in a fragment, as History's, the search box with its
"More filters" popover, Download CSV, "Go to page", the count, and 50 rows with History's columns and selection.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

import pandas as pd
import streamlit as st

from benchmarks.reference.studio_frame import run_frame

ROWS_SHOWN = 50
LOG_ENV = "FLOOR_LOG"  # the seeded log's file (``benchmarks.history.seed_sqlite``), read once per process
PLACEHOLDER = ("data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='56' height='56'>"
               "<rect width='56' height='56' fill='%23eee'/></svg>")


def read_jobs(path: str) -> pd.DataFrame:
    """The log's jobs, newest first, in the table's columns."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = pd.read_sql_query(
            "SELECT id, status, prompt, model, COALESCE(final_credits, reserved_credits) AS cost, submitted_at,"
            " finished_at, params FROM jobs ORDER BY id DESC", db)
    submitted = pd.to_datetime(rows["submitted_at"], utc=True, format="ISO8601")
    return pd.DataFrame({
        "id": rows["id"], "result": PLACEHOLDER, "status": rows["status"], "prompt": rows["prompt"],
        "model": rows["model"], "cost": rows["cost"], "returned": pd.array([None] * len(rows), dtype="Int64"),
        "submitted": submitted.dt.tz_localize(None),
        "seconds": (pd.to_datetime(rows["finished_at"], utc=True, format="ISO8601") - submitted).dt.total_seconds(),
        "link": None, "params": rows["params"],
    })


def matching(table: pd.DataFrame, words: str) -> pd.DataFrame:
    """Rows whose prompt holds every word (any case)."""
    shown = table
    for word in words.lower().split():
        shown = shown[shown["prompt"].str.contains(word, regex=False)]
    return shown


@st.fragment
def jobs_part(table: pd.DataFrame) -> None:
    """The search, its popover, the row of CSV, page and count, and the table: a search reruns only this."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        words = st.text_input("Search prompts", placeholder="words in the prompt")
        with st.popover("More filters", icon=":material/filter_list:"):
            st.pills("Show only", ["Favourites", "Grids"], selection_mode="multi")
            st.multiselect("Model", sorted(table["model"].unique()))
            st.multiselect("Status", sorted(table["status"].unique()))
            st.date_input("Submitted between", ())
    shown = matching(table, words)
    pages = max(1, -(-len(shown) // ROWS_SHOWN))
    with st.container(horizontal=True, vertical_alignment="center"):
        st.download_button("Download CSV", lambda: shown.to_csv(index=False), file_name="jobs.csv",
                           icon=":material/download:", on_click="ignore", type="tertiary")
        with st.popover("Go to page", icon=":material/menu_book:", type="tertiary"):
            number = st.number_input(f"Page (of {pages:,})", 1, pages, 1)
        st.caption(f"{len(shown):,} of {len(table):,} jobs, newest first · page {number:,} of {pages:,}",
                   width="content")
    start = (number - 1) * ROWS_SHOWN
    st.dataframe(shown.iloc[start:start + ROWS_SHOWN].drop(columns="id"), hide_index=True, on_select="rerun",
                 selection_mode="multi-row", row_height=56, column_config={
                     "result": st.column_config.ImageColumn("Result", width=56),
                     "cost": st.column_config.NumberColumn("Cost", format="%d"),
                     "returned": st.column_config.NumberColumn("Returned", format="%d"),
                     "submitted": st.column_config.DatetimeColumn("Submitted (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                     "seconds": st.column_config.NumberColumn("Time to result", format="%.1f s"),
                     "link": st.column_config.LinkColumn("Link on Rivya", display_text="open"),
                 })


def history(jobs: Callable[[str], pd.DataFrame]) -> Callable[[], None]:
    """History's page, its rows from ``jobs`` (``read_jobs``, cached by the app)."""

    def draw() -> None:
        _history(jobs(os.environ[LOG_ENV]))

    draw.__name__ = "history"
    return draw


def _history(table: pd.DataFrame) -> None:
    st.title("History & credits", anchor=False)
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.metric("Credit balance", "1,000")
        st.button("Refresh balance", icon=":material/refresh:")
    st.caption("Read from Rivya at 12:00")
    with st.container(horizontal=True):
        st.metric("Jobs", f"{len(table):,}")
        st.metric("Credits charged", f"{int(table['cost'].sum()):,}")
        st.metric("Credits returned", "0")
        st.metric("Failed", f"{int((table['status'] == 'failed').sum()):,}")
        st.metric("Running", "0")
    st.caption("Over 90 days  \nJobs by status: …  \nMedian time to result: …")
    listed, drawn = st.tabs(["Jobs", "Charts"], on_change="rerun")
    if drawn.open:
        with drawn:
            st.bar_chart(table.groupby("model")["cost"].sum())
    with listed:
        jobs_part(table)


def run(jobs: Callable[[str], pd.DataFrame]) -> None:
    run_frame("Reference (e)", {"History & credits": ("history", history(jobs))})
