"""The History & credits page: what the team made, what it cost, and where it is."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from rivya import ledger
from rivya.catalog import MODELS, describe_params
from rivya.errors import RivyaError
from rivya.media import data_uri, saved_media, thumbnail
from rivya.messages import explain
from rivya.resources import is_web_url
from rivya.status import TERMINAL
from rivya.studio import Studio
from ui.access import key_owner
from ui.jobs_view import follow_redirect, job_card
from ui.services import demo_banner, get_studio
from ui.text import credits_text, md_escape, seconds

PAGE_SIZE = 100
# A transparent pixel: rows without a saved result show an empty cell rather than "None".
NO_THUMBNAIL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
STUCK_AFTER_SECONDS = 300


def _balance_row(studio: Studio) -> None:
    balance, budget, refresh = st.columns([2, 2, 3], vertical_alignment="bottom")
    if refresh.button("Refresh balance", icon=":material/refresh:", key="history:refresh"):
        studio.forget_balance(key_owner())
    try:
        balance.metric("Credit balance", credits_text(studio.balance(key_owner())))
        refresh.caption(f"Read from Rivya at {datetime.now(UTC):%H:%M:%S} UTC")
    except RivyaError as exc:
        words = explain(exc)
        balance.metric("Credit balance", "—")
        refresh.caption(f"{md_escape(words.title)} {md_escape(words.action)}")
    if studio.settings.daily_budget is not None:
        budget.metric("Team budget used today", f"{studio.used_today():,} / {studio.settings.daily_budget:,}")


def _figures(df: pd.DataFrame) -> None:
    fig = ledger.figures(df)
    a, b, c, d, e = st.columns(5)
    a.metric("Spent today (UTC)", f"{fig.spent_today:,}")
    b.metric("Spent, last 7 days", f"{fig.spent_7_days:,}")
    c.metric("Spent, all time", f"{fig.spent_all_time:,}")
    d.metric("Returned on failures", f"{fig.returned_on_failures:,}")
    e.metric("Success rate", "—" if fig.success_rate is None else f"{fig.success_rate:.0%}")
    by_status = " · ".join(f"{status}: {count:,}" for status, count in fig.jobs_by_status.items())
    medians = " · ".join(
        f"{MODELS[m].display_name if m in MODELS else m}: {seconds(s)}" for m, s in fig.median_seconds_by_model.items()
    )
    st.caption(f"Jobs by status — {by_status}")
    if medians:
        st.caption(f"Median time to result — {medians}")


def _by_day(table: pd.DataFrame) -> pd.DataFrame:
    """Days as labels, so even a single day draws a proper bar."""
    return table.set_axis([f"{d:%b %d}" for d in table.index])


def _charts(df: pd.DataFrame) -> None:
    left, middle, right = st.columns(3)
    with left:
        st.markdown("**Credits per day, by model**")
        st.bar_chart(_by_day(ledger.credits_per_day(df)), stack=True, height=260, x_label="day", y_label="credits")
    with middle:
        st.markdown("**Jobs per day, by status**")
        st.bar_chart(_by_day(ledger.jobs_per_day(df)), stack=True, height=260, x_label="day", y_label="jobs")
    with right:
        st.markdown("**Seconds to result, per model**")
        times = ledger.time_to_result(df)
        times.index = [MODELS[m].display_name if m in MODELS else m for m in times.index]
        st.bar_chart(times, stack=False, height=260, y_label="seconds")


def _filters(df: pd.DataFrame) -> pd.DataFrame:
    models, statuses, dates, text = st.columns([2, 2, 3, 3])
    chosen_models = models.multiselect(
        "Model", sorted(df["model"].unique()), key="history:models",
        format_func=lambda m: MODELS[m].display_name if m in MODELS else m,
    )
    chosen_statuses = statuses.multiselect("Status", sorted(df["status"].unique()), key="history:statuses")
    first, last = df["day"].min(), df["day"].max()
    span = dates.date_input("Submitted between", (first, last), key="history:dates")
    start, end = (span if isinstance(span, tuple | list) and len(span) == 2 else (None, None))
    query = text.text_input("Search prompts", key="history:text", placeholder="words in the prompt")
    return ledger.filter_jobs(df, models=chosen_models, statuses=chosen_statuses, start=start, end=end, text=query)


@st.cache_data(max_entries=5000, show_spinner=False)
def _thumbnail_uri(media_path: str) -> str:
    """A saved result's thumbnail, inlined once per file and then served from memory."""
    path = saved_media(media_path, get_studio().jobs.media_dir)  # only files inside the media folder
    small = thumbnail(path) if path else None
    return data_uri(small) if small else NO_THUMBNAIL


def _table_rows(page: pd.DataFrame) -> pd.DataFrame:
    """The visible page of rows, with thumbnails inlined (a few KB each, only for this page)."""
    def thumb(paths: str) -> str:
        saved = json.loads(paths) if isinstance(paths, str) else []
        return _thumbnail_uri(saved[0]) if saved else NO_THUMBNAIL

    def link(urls: str) -> str | None:
        return next((u for u in json.loads(urls) if is_web_url(u)), None) if isinstance(urls, str) else None

    urls = page["result_urls"].map(link)
    return pd.DataFrame(
        {
            "result": page["media_paths"].map(thumb),
            "prompt": page["prompt"],
            "model": page["model"].map(lambda m: MODELS[m].display_name if m in MODELS else m),
            "status": page["status"],
            "params": [describe_params(m, json.loads(p)) for m, p in zip(page["model"], page["params"], strict=True)],
            "reserved": page["reserved_credits"],
            "final": page["final_credits"],
            "submitted": page["submitted_at"],
            "seconds": page["seconds_to_result"],
            "link": urls,
        }
    )


def _table(filtered: pd.DataFrame) -> int | None:
    """The paged table; returns the id of the row the user selected, if any."""
    pages = max(1, math.ceil(len(filtered) / PAGE_SIZE))
    number = 1
    if pages > 1:
        number = st.number_input(f"Page (of {pages:,})", 1, pages, 1, key="history:page", width=160)
    page = filtered.iloc[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    event = st.dataframe(
        _table_rows(page),
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="history:table",
        row_height=56,
        column_config={
            "result": st.column_config.ImageColumn("Result", width="small"),
            "prompt": st.column_config.TextColumn("Prompt", width="large"),
            "model": st.column_config.TextColumn("Model"),
            "status": st.column_config.TextColumn("Status"),
            "params": st.column_config.TextColumn("Parameters"),
            "reserved": st.column_config.NumberColumn("Reserved", format="%d"),
            "final": st.column_config.NumberColumn("Final", format="%d"),
            "submitted": st.column_config.DatetimeColumn("Submitted (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "seconds": st.column_config.NumberColumn("Time to result", format="%.1f s"),
            "link": st.column_config.LinkColumn("Rivya link", display_text="open"),
        },
    )
    rows = event.selection.rows if event else []
    return int(page.iloc[rows[0]]["id"]) if rows else None


def _stuck(studio: Studio, df: pd.DataFrame) -> None:
    running = df[~df["status"].isin(list(TERMINAL))]
    now = pd.Timestamp.now(tz="UTC")
    stuck = running[(now - running["updated_at"]).dt.total_seconds() > STUCK_AFTER_SECONDS]
    if len(running):
        note, button = st.columns([4, 1], vertical_alignment="center")
        note.info(
            f"{len(running)} job(s) still running"
            + (f", {len(stuck)} of them for over {STUCK_AFTER_SECONDS // 60} minutes" if len(stuck) else "")
            + ". The app keeps checking them, even with no page open.",
            icon=":material/hourglass_top:",
        )
        if button.button("Check now", key="history:recheck", icon=":material/sync:"):
            studio.jobs.recheck()
            st.toast("Checking every running job now.")


def history_page() -> None:
    follow_redirect()
    studio = get_studio()
    st.title("History & credits", anchor=False)
    demo_banner(studio)
    _balance_row(studio)
    df = studio.ledger.frame()
    if df.empty:
        st.caption("No jobs yet. Make an image or a video and it will show up here.")
        return
    _figures(df)
    _stuck(studio, df)
    jobs_tab, charts_tab = st.tabs(["Jobs", "Charts"])
    with charts_tab:
        _charts(df)
    with jobs_tab:
        filtered = _filters(df)
        count, download = st.columns([3, 1], vertical_alignment="center")
        count.caption(f"{len(filtered):,} of {len(df):,} jobs, newest first")
        download.download_button(
            "Download CSV", lambda: ledger.to_csv(filtered), file_name="imagine-studio-jobs.csv", mime="text/csv",
            icon=":material/download:", on_click="ignore", key="history:csv",
        )
        selected = _table(filtered)
        if selected is not None:
            job = studio.log.get(selected)
            if job:
                st.subheader("Selected job", anchor=False)
                job_card(job, key_prefix="history", details=True)
