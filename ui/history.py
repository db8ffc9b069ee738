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
from rivya.studio import Studio
from ui.access import key_owner
from ui.jobs_view import job_card
from ui.services import demo_banner, get_studio
from ui.text import credits_text, md_escape, seconds

PAGE_SIZE = 100
# A transparent pixel: rows without a saved result show an empty cell rather than "None".
NO_THUMBNAIL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
STUCK_AFTER_SECONDS = 300
CHART_HEIGHT = 320
_LEGEND = {"orient": "bottom", "columns": 2, "labelLimit": 0}


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


def _figures(studio: Studio) -> None:
    fig = studio.ledger.figures()
    a, b, c, d, e = st.columns(5)
    a.metric("Spent today (UTC)", f"{fig.spent_today:,}")
    b.metric("Spent, last 7 days", f"{fig.spent_7_days:,}")
    c.metric("Spent, all time", f"{fig.spent_all_time:,}")
    d.metric("Returned on failures", f"{fig.returned_on_failures:,}")
    e.metric("Success rate", "—" if fig.success_rate is None else f"{fig.success_rate:.0%}")
    by_status = " · ".join(f"{status}: {count:,}" for status, count in fig.jobs_by_status.items())
    medians = " · ".join(f"{_model_name(m)}: {seconds(s)}" for m, s in fig.median_seconds_by_model.items())
    st.caption(f"Jobs by status — {by_status}")
    if medians:
        st.caption(f"Median time to result — {medians}")


def _model_name(model: str) -> str:
    return MODELS[model].display_name if model in MODELS else model


def _stacked_by_day(table: pd.DataFrame, series: str, value: str) -> None:
    """A stacked bar per day, one colour per column of ``table`` (days as labels, so one day draws a proper bar).

    A Vega-Lite spec written out: ``st.bar_chart`` builds it through Altair, which costs about 0.1 s a chart
    on every rerun (and 0.7 s to import).
    """
    days = list(table.index)
    long_span = len(days) > 1 and (days[-1] - days[0]).days > 360  # labels without a year would merge
    data = table.rename(index=lambda d: f"{d:%Y-%m-%d}" if long_span else f"{d:%b %d}").stack().rename(value)
    data = data.rename_axis(["day", series]).reset_index()
    if series == "model":
        data[series] = data[series].map(_model_name)
    spec = {
        "mark": {"type": "bar"},
        "encoding": {
            "x": {"field": "day", "type": "ordinal", "sort": None, "title": "day"},
            "y": {"field": value, "type": "quantitative", "title": value},
            "color": {"field": series, "type": "nominal", "title": None, "legend": _LEGEND},
        },
    }
    st.vega_lite_chart(data, spec, width="stretch", height=CHART_HEIGHT)


def _charts(studio: Studio) -> None:
    left, middle, right = st.columns(3)
    with left:
        st.markdown("**Credits per day, by model**")
        _stacked_by_day(studio.ledger.credits_per_day(), "model", "credits")
    with middle:
        st.markdown("**Jobs per day, by status**")
        _stacked_by_day(studio.ledger.jobs_per_day(), "status", "jobs")
    with right:
        st.markdown("**Seconds to result, per model**")
        times = studio.ledger.time_to_result().rename_axis("model").reset_index()
        data = times.melt(id_vars="model", var_name="measure", value_name="seconds")
        data["model"] = data["model"].map(_model_name)
        spec = {
            "mark": {"type": "bar"},
            "encoding": {
                "x": {"field": "model", "type": "nominal", "title": None, "axis": {"labelAngle": 0}},
                "xOffset": {"field": "measure"},
                "y": {"field": "seconds", "type": "quantitative", "title": "seconds"},
                "color": {"field": "measure", "type": "nominal", "title": None, "legend": _LEGEND},
            },
        }
        st.vega_lite_chart(data, spec, width="stretch", height=CHART_HEIGHT)


def _filters(studio: Studio) -> ledger.JobFilter:
    choices = studio.ledger.choices()
    models, statuses, dates, text = st.columns([2, 2, 3, 3])
    chosen_models = models.multiselect("Model", choices.models, key="history:models", format_func=_model_name)
    chosen_statuses = statuses.multiselect("Status", choices.statuses, key="history:statuses")
    span = dates.date_input("Submitted between", (choices.first_day, choices.last_day), key="history:dates")
    start, end = (span if isinstance(span, tuple | list) and len(span) == 2 else (None, None))
    query = text.text_input(
        "Search prompts", key="history:text", placeholder="words in the prompt",
        help="Finds prompts with every word, in any order; a word of three letters or more also finds words it starts.",
    )
    return ledger.JobFilter(tuple(chosen_models), tuple(chosen_statuses), start, end, query.strip())


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
            "model": page["model"].map(_model_name),
            "status": page["status"],
            "params": [describe_params(m, json.loads(p)) for m, p in zip(page["model"], page["params"], strict=True)],
            "reserved": page["reserved_credits"],
            "final": page["final_credits"],
            "submitted": page["submitted_at"],
            "seconds": page["seconds_to_result"],
            "link": urls,
        }
    )


def _table(studio: Studio, jobs: ledger.JobFilter, matching: int) -> int | None:
    """The paged table; returns the id of the row the user selected, if any."""
    pages = max(1, math.ceil(matching / PAGE_SIZE))
    number = 1
    if pages > 1:
        number = st.number_input(f"Page (of {pages:,})", 1, pages, 1, key="history:page", width=160)
    page = studio.ledger.page(jobs, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
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


def _stuck(studio: Studio) -> None:
    running, stuck = studio.ledger.running(stuck_after=STUCK_AFTER_SECONDS)
    if running:
        note, button = st.columns([4, 1], vertical_alignment="center")
        note.info(
            f"{running:,} job(s) still running"
            + (f", {stuck:,} of them for over {STUCK_AFTER_SECONDS // 60} minutes" if stuck else "")
            + ". The app keeps checking them, even with no page open.",
            icon=":material/hourglass_top:",
        )
        if button.button("Check now", key="history:recheck", icon=":material/sync:"):
            studio.jobs.recheck()
            st.toast("Checking every running job now.")


def history_page() -> None:
    studio = get_studio()
    st.title("History & credits", anchor=False)
    demo_banner(studio)
    _balance_row(studio)
    total = studio.ledger.total()
    if not total:
        st.caption("No jobs yet. Make an image or a video and it will show up here.")
        return
    _figures(studio)
    _stuck(studio)
    # The charts are drawn only while their tab is open: building them costs more than the rest of the page.
    # The jobs tab always runs, so its filters keep their values while the charts are shown.
    jobs_tab, charts_tab = st.tabs(["Jobs", "Charts"], key="history:tab", on_change="rerun")
    if charts_tab.open:
        with charts_tab:
            _charts(studio)
    with jobs_tab:
        jobs = _filters(studio)
        matching = studio.ledger.count(jobs)
        count, download = st.columns([3, 1], vertical_alignment="center")
        count.caption(f"{matching:,} of {total:,} jobs, newest first")
        download.download_button(
            "Download CSV", lambda: studio.ledger.to_csv(jobs), file_name="imagine-studio-jobs.csv", mime="text/csv",
            icon=":material/download:", on_click="ignore", key="history:csv",
        )
        selected = _table(studio, jobs, matching)
        if selected is not None:
            job = studio.log.get(selected)
            if job:
                st.subheader("Selected job", anchor=False)
                job_card(job, key_prefix="history", details=True)
