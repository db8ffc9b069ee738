"""The History & credits page's blocks: what the team made, what it cost, and where it is."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from rivya import ledger
from rivya.catalog import describe_params, display_name
from rivya.errors import RivyaError
from rivya.media import saved_media
from rivya.messages import explain
from rivya.money import returned_credits
from rivya.people import Person, distinct_names, maker_name, star_owner
from rivya.resources import is_web_url
from rivya.status import STATUS_WORDS, JobStatus, status_word
from rivya.studio import Studio
from rivya.tasklog import Job
from rivya.thumbnails import CARD, CELL, data_uri, shown_thumbnail, thumbnail_bytes
from ui.access import auth_configured, key_owner
from ui.compare import start_compare
from ui.downloads import zip_download
from ui.figures import Figure, figure_row
from ui.history_watch import stamp_rows
from ui.session import session
from ui.text import credits_text, days_note, md_escape, seconds, viewer_timezone

PAGE_SIZE = 100
# A transparent pixel: rows without a saved result show an empty cell rather than "None".
NO_THUMBNAIL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
STUCK_AFTER_SECONDS = 300
CHART_HEIGHT = 320
_LEGEND = {"orient": "bottom", "columns": 2, "labelLimit": 0}
SELECTED_IMAGE_PX = 480  # the selected job's picture: whole on a laptop screen, beside nothing
# One colour per status in the jobs chart, the same on every day: failures red, successes green.
STATUS_COLOURS = {
    "Done": "#2e9e4f", "Failed": "#d62728", "Not started": "#ff9f40", "Unconfirmed": "#8c564b",
    "Generating": "#1f77b4", "Queued": "#9ecae9", "Sending": "#c7c7c7",
}
# What the time chart's two bars measure, in plain words rather than "median" and "p90".
TIME_MEASURES = {"median": "half finished within", "p90": "9 in 10 finished within"}
FAVOURITES, MINE, GRIDS = "Favourites", "Mine", "Grids"
COMPARE_MIN, COMPARE_MAX = 2, 4
# The filters' widget keys: the chips below them clear a filter by resetting its widget's value.
ONLY, MODELS, TEXT, STATUSES, DATES, PAGE = (
    "history:only", "history:models", "history:text", "history:statuses", "history:dates", "history:page")
_PAGED = "history:paged"  # the filter the page number belongs to


def balance_row(studio: Studio, person: Person | None) -> None:
    """Balance and today's budgets; budgets count from midnight in ``BUDGET_TIMEZONE``, as the spend guard does.

    The balance's clock is the viewer's; the days are the studio's one calendar, named once beside the figures.
    """
    settings = studio.settings
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    slot = row.empty()  # the figures, beside the button, filled once the balance has been read
    # A callback: its press runs before the balance is read, in whatever run follows it (ui/live.py).
    row.button("Refresh balance", icon=":material/refresh:", key="history:refresh", on_click=studio.forget_balance,
               args=(key_owner(),))
    try:
        credits = credits_text(studio.balance(key_owner()))
        now = datetime.now(viewer_timezone())  # after the answer: the time it was read
        balance = [Figure("Credit balance", credits, f"Read from Rivya at {now:%H:%M:%S} {now:%Z}")]
    except RivyaError as exc:
        words = explain(exc)
        balance = [Figure("Credit balance", "—")]
        row.caption(f"{md_escape(words.title)} {md_escape(words.action)}")
    if settings.daily_budget is not None:
        balance.append(Figure("Team budget used today", f"{studio.used_today():,} / {settings.daily_budget:,}",
                              "Resets at midnight"))
    if person is not None and settings.person_daily_budget is not None:
        used = studio.used_today(person.id)
        balance.append(Figure("Your budget used today", f"{used:,} / {settings.person_daily_budget:,}",
                              "Resets at midnight"))
    with slot:
        figure_row(balance, beside=True)


def my_spend(studio: Studio, person: Person) -> None:
    """The signed-in person's own spend, in the budgets' days."""
    spend = studio.ledger.person_spend(person.id)
    figure_row([Figure("Your spend today", f"{spend.today:,}"), Figure("Your spend, last 7 days", f"{spend.last_7_days:,}"),
                Figure("Your spend, all time", f"{spend.all_time:,}")], ["Your jobs only."])


def spend_by_person(studio: Studio) -> None:
    """The admins' view: every person's jobs and spend, largest first."""
    rows = studio.ledger.spend_by_person()
    table = pd.DataFrame(
        {
            "person": distinct_names([maker_name(r.person, r.name) if r.person else "Nobody signed in" for r in rows]),
            "jobs": [r.jobs for r in rows],
            "today": [r.spend.today for r in rows],
            "week": [r.spend.last_7_days for r in rows],
            "ever": [r.spend.all_time for r in rows],
        }
    )
    st.dataframe(
        table, hide_index=True, key="history:people",
        column_config={
            "person": st.column_config.TextColumn(
                "Person", help="The name the sign-in provider gave. Two accounts of one name are numbered: Ana, Ana (2)."),
            "jobs": st.column_config.NumberColumn("Jobs", format="%d"),
            "today": st.column_config.NumberColumn("Spent today", format="%d"),
            "week": st.column_config.NumberColumn("Last 7 days", format="%d"),
            "ever": st.column_config.NumberColumn("All time", format="%d"),
        },
    )
    st.caption(f"Credits charged per person. {days_note(studio.log.timezone)}")


def figures(studio: Studio) -> None:
    """The headline figures in a row that wraps (two per row on a phone), the days they count and the jobs by
    status under them: one element."""
    fig = studio.ledger.figures()
    by_status = " · ".join(f"{status_word(status)}: {count:,}" for status, count in fig.jobs_by_status.items())
    medians = " · ".join(f"{display_name(m)}: {seconds(s)}" for m, s in fig.median_seconds_by_model.items())
    figure_row(
        [Figure("Spent today", f"{fig.spent_today:,}"), Figure("Spent, last 7 days", f"{fig.spent_7_days:,}"),
         Figure("Spent, all time", f"{fig.spent_all_time:,}"),
         Figure("Returned on failures", f"{fig.returned_on_failures:,}"),
         Figure("Success rate", "—" if fig.success_rate is None else f"{fig.success_rate:.0%}")],
        [days_note(studio.log.timezone), f"Jobs by status — {by_status}",
         *([f"Median time to result — {medians}"] if medians else [])],
    )


def _stacked_by_day(table: pd.DataFrame, series: str, value: str) -> None:
    """A stacked bar per day, one colour per column of ``table`` (days as labels, so one day draws a proper bar).

    A Vega-Lite spec written out: ``st.bar_chart`` builds it through Altair, which costs about 0.1 s a chart
    on every rerun (and 0.7 s to import).
    """
    days = list(table.index)
    long_span = len(days) > 1 and (days[-1] - days[0]).days > 360  # labels without a year would merge
    data = table.rename(index=lambda d: f"{d:%Y-%m-%d}" if long_span else f"{d:%b %d}").stack().rename(value)
    data = data.rename_axis(["day", series]).reset_index()
    color = {"field": series, "type": "nominal", "title": None, "legend": _LEGEND}
    if series == "model":
        data[series] = data[series].map(display_name)
    else:  # statuses in the cards' words, each in its own fixed colour (failures red whatever else is shown)
        data[series] = data[series].map(status_word)
        known = [label for label in STATUS_COLOURS if label in set(data[series])]
        others = sorted(set(data[series]) - set(known))
        color["scale"] = {"domain": [*known, *others], "range": [*(STATUS_COLOURS[k] for k in known), *["#7f7f7f"] * len(others)]}
    spec = {
        "mark": {"type": "bar"},
        "encoding": {
            "x": {"field": "day", "type": "ordinal", "sort": None, "title": "day"},
            "y": {"field": value, "type": "quantitative", "title": value},
            "color": color,
        },
    }
    st.vega_lite_chart(data, spec, width="stretch", height=CHART_HEIGHT)


def charts(studio: Studio) -> None:
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
        data["model"] = data["model"].map(display_name)
        data["measure"] = data["measure"].map(TIME_MEASURES)
        spec = {
            "mark": {"type": "bar"},
            "encoding": {
                "x": {"field": "model", "type": "nominal", "title": None, "axis": {"labelAngle": 0}},
                "xOffset": {"field": "measure"},
                "y": {"field": "seconds", "type": "quantitative", "title": "seconds"},
                # One per line: two long measures side by side are cut off in a third of 1400 px and on a phone.
                "color": {"field": "measure", "type": "nominal", "title": None, "legend": {**_LEGEND, "columns": 1}},
            },
        }
        st.vega_lite_chart(data, spec, width="stretch", height=CHART_HEIGHT)
        st.caption("Seconds from sending to the saved result: half of the jobs finished within the first bar, "
                   "9 in 10 within the second.")


def job_filters(studio: Studio, person: Person | None) -> ledger.JobFilter:
    """The search box on the first screen, every other filter under "More filters" (a popover).

    A popover's content is built in the browser only once it is opened: the page's first draw, a warm visit and a
    switch from another page then build one widget and one button instead of five widgets of four kinds (a pills
    row and two multiselects, each kind a script the browser loads and runs). What is chosen there shows as chips
    below the row (``_chips``) and as a count in the popover's label, so it stays in sight with the popover closed.
    """
    choices = studio.ledger.choices()
    narrowed = (len(st.session_state.get(ONLY) or ()) + len(st.session_state.get(MODELS) or ())
                + len(st.session_state.get(STATUSES) or ()) + _dates_narrowed(st.session_state.get(DATES), choices))
    with st.container(horizontal=True, vertical_alignment="bottom"):
        query = st.text_input(
            "Search prompts", key=TEXT, placeholder="words in the prompt",
            help="Finds prompts with every word, in any order; a word of three letters or more also finds words it "
                 "starts.",
        )
        # Keyed: its label counts what is chosen inside, and a new label must not make a new (closed) popover.
        more = st.popover(f"More filters ({narrowed})" if narrowed else "More filters", icon=":material/filter_list:",
                          key="history:more", width="content")
    shown = [FAVOURITES, MINE, GRIDS] if person is not None else [FAVOURITES, GRIDS]
    picked = more.pills("Show only", shown, selection_mode="multi", key=ONLY,
                        help=("Favourites: results you starred. Mine: jobs you made." if person is not None
                              else "Favourites: results starred in this app.") + " Grids: jobs made on Explore.")
    chosen_models = more.multiselect("Model", choices.models, key=MODELS, format_func=display_name)
    # In the order a job passes through them (as the cards and the chart name them), ones the app does not know last.
    order = list(STATUS_WORDS)
    offered = sorted(choices.statuses, key=lambda s: (order.index(s) if s in order else len(order), s))
    chosen_statuses = more.multiselect("Status", offered, key=STATUSES, format_func=status_word)
    span = more.date_input("Submitted between", (choices.first_day, choices.last_day), key=DATES,
                           help=days_note(studio.log.timezone))
    start, end = (span if isinstance(span, tuple | list) and len(span) == 2 else (None, None))
    _chips(picked, chosen_models, chosen_statuses, (start, end) if _dates_narrowed(span, choices) else None,
           query.strip(), choices)
    return ledger.JobFilter(
        tuple(chosen_models), tuple(chosen_statuses), start, end, query.strip(),
        person=person.id if person is not None and MINE in picked else None,
        starred_by=star_owner(person) if FAVOURITES in picked else None, grids_only=GRIDS in picked,
    )


def _dates_narrowed(span: object, choices: ledger.Choices) -> bool:
    """True when the date filter leaves out days of the log (its default is the log's first to last day)."""
    if not isinstance(span, tuple | list) or len(span) != 2:
        return False
    first, last = span
    return (choices.first_day is not None and first > choices.first_day) or (
        choices.last_day is not None and last < choices.last_day)


def _day_text(day: date) -> str:
    return f"{day:%b} {day.day}, {day:%Y}"


def _drop(key: str, value: str) -> None:
    """Take ``value`` out of the multi-choice filter under ``key`` (a chip's press, before the rerun)."""
    st.session_state[key] = [v for v in st.session_state.get(key) or () if v != value]


def _reset(keys: dict[str, object]) -> None:
    """Give each filter widget in ``keys`` its value (a chip's or "Clear filters"' press, before the rerun)."""
    for key, value in keys.items():
        st.session_state[key] = value


def _chips(only: list[str], models: list[str], statuses: list[str], span: tuple[date, date] | None, words: str,
           choices: ledger.Choices) -> None:
    """Every filter chosen under "More filters" and the search words as chips; pressing one removes that filter."""
    if not (only or models or statuses or span or words):
        return
    with st.container(horizontal=True, gap="small", key="history:chips"):
        for name in only:
            st.button(f"Show only: {name}", icon=":material/close:", key=f"history:chip:only:{name}",
                      on_click=_drop, args=(ONLY, name), help="Remove this filter")
        for model in models:
            st.button(f"Model: {display_name(model)}", icon=":material/close:", key=f"history:chip:model:{model}",
                      on_click=_drop, args=(MODELS, model), help="Remove this filter")
        for status in statuses:
            st.button(f"Status: {status_word(status)}", icon=":material/close:", key=f"history:chip:status:{status}",
                      on_click=_drop, args=(STATUSES, status), help="Remove this filter")
        if span is not None:
            st.button(f"Submitted {_day_text(span[0])} – {_day_text(span[1])}", icon=":material/close:",
                      key="history:chip:dates", on_click=_reset, args=({DATES: (choices.first_day, choices.last_day)},),
                      help="Remove this filter")
        if words:
            st.button(f"Words: {words}", icon=":material/close:", key="history:chip:text", on_click=_reset,
                      args=({TEXT: ""},), help="Remove this filter")
        st.button("Clear filters", key="history:chip:all", type="tertiary", on_click=_reset,
                  args=({STATUSES: [], DATES: (choices.first_day, choices.last_day), TEXT: "", MODELS: [], ONLY: []},))


@st.cache_data(max_entries=5000, show_spinner=False)
def _thumbnail_uri(media_path: str, media_dir: Path) -> str:
    """A saved result's picture for a table cell (``thumbnails.CELL``), inlined once per file and then served from memory."""
    card = shown_thumbnail(saved_media(media_path, media_dir), CARD, media_dir)  # only files inside the media folder
    small = thumbnail_bytes(card, CELL) if card else None
    return data_uri(small) if small else NO_THUMBNAIL


@st.cache_resource(max_entries=32, show_spinner=False)
def _shaped_rows(_page: pd.DataFrame, key: str, zone: str, media_dir: Path, made_by: bool) -> pd.DataFrame:
    """``_table_rows``, kept per page of rows (``key``: the log's change counter before the read, filter and page
    number): a warm visit, another tab or a live check that found nothing new does not shape the same rows again.
    Shared by every session, read only."""
    return _table_rows(_page, zone, media_dir, made_by=made_by)


def _table_rows(page: pd.DataFrame, zone: str, media_dir: Path, *, made_by: bool) -> pd.DataFrame:
    """The visible page of rows in people's words, times in ``zone``, thumbnails inlined (a few KB each, this page's).

    The status comes second, so a phone shows it beside the picture without scrolling sideways; the raw credits
    (reserved, final) are in the CSV, the table shows what a job cost and what came back (``rivya.money``'s rules).
    """
    def thumb(paths: str) -> str:
        saved = json.loads(paths) if isinstance(paths, str) else []
        return _thumbnail_uri(saved[0], media_dir) if saved else NO_THUMBNAIL

    def link(urls: str) -> str | None:
        return next((u for u in json.loads(urls) if is_web_url(u)), None) if isinstance(urls, str) else None

    def whole(value: object) -> int | None:
        return None if pd.isna(value) else int(value)  # type: ignore[call-overload]

    returned = [returned_credits(s, whole(r), whole(f)) or None for s, r, f in
                zip(page["status"], page["reserved_credits"], page["final_credits"], strict=True)]
    columns = {
        "result": page["media_paths"].map(thumb),
        "status": page["status"].map(status_word),
        "prompt": page["prompt"],
        **({"made_by": page[ledger.MADE_BY].replace("", None)} if made_by else {}),
        "model": page["model"].map(display_name),
        "cost": page["charged_credits"],
        "returned": pd.array(returned, dtype="Int64"),
        "submitted": page["submitted_at"].dt.tz_convert(zone).dt.tz_localize(None),
        "seconds": page["seconds_to_result"],
        "link": page["result_urls"].map(link),
        "params": [describe_params(m, json.loads(p)) for m, p in zip(page["model"], page["params"], strict=True)],
    }
    return pd.DataFrame(columns)


TABLE = "history:table"  # the jobs table's widget key: one for every filter and page (see ``_fresh_selection``)
_TABLE_ROWS = "history:table:rows"  # the filter and page number the table's selection was made on


def _fresh_selection(jobs: ledger.JobFilter, page: int) -> None:
    """Clear the table's selection when its filter or page changed: a selection belongs to the rows it was made on,
    and Streamlit keeps one by row position, so row 2 of another filter would be another job.

    One key for every filter and page, rather than one each: a new key is a new table in the browser, built from
    scratch on every filter (a fresh grid costs the front end several times an update of the same one's rows).
    """
    shown = (jobs, page)
    if st.session_state.get(_TABLE_ROWS) != shown:
        st.session_state[_TABLE_ROWS] = shown
        st.session_state[TABLE] = {"selection": {"rows": [], "columns": [], "cells": []}}  # a new one each time


def page_number(jobs: ledger.JobFilter, matching: int) -> tuple[int, int]:
    """The page of rows to show, and how many pages there are; "Go to page" (a popover, drawn here) picks another.

    A popover rather than the number box itself: the box is built in the browser only when opened, one widget kind
    fewer on every visit; the caption beside it names the page shown. A new filter starts at its first page.
    """
    pages = max(1, math.ceil(matching / PAGE_SIZE))
    if st.session_state.get(_PAGED) != jobs:
        st.session_state[_PAGED] = jobs
        st.session_state.pop(PAGE, None)  # the box's own default, page 1
    if pages == 1:
        return 1, 1
    with st.popover("Go to page", icon=":material/menu_book:", type="tertiary", key="history:pager"):
        number = st.number_input(f"Page (of {pages:,})", 1, pages, 1, key=PAGE, width=160)
    return int(number), pages


def jobs_table(studio: Studio, jobs: ledger.JobFilter, number: int) -> list[int]:
    """Page ``number`` of the table; returns the ids of the rows the user selected, in the order shown."""
    with studio.log.reading():  # one state of the log for the rows shown and their stamp (a change after is seen)
        before = studio.log.read_signature()
        page = studio.ledger.page(jobs, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        stamp_rows(studio, tuple(int(i) for i in page["id"]))
    zone = viewer_timezone().key
    made_by = auth_configured()
    _fresh_selection(jobs, number)
    event = st.dataframe(
        _shaped_rows(page, repr((before, jobs, number)), zone, studio.jobs.media_dir, made_by),
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key=TABLE,
        row_height=56,
        placeholder="—",  # a failed job has no time to result and no link: a dash, not the word "None"
        column_config={
            "result": st.column_config.ImageColumn("Result", width=56),
            "status": st.column_config.TextColumn("Status", width=88),
            "prompt": st.column_config.TextColumn("Prompt", width="medium"),
            "made_by": st.column_config.TextColumn("Made by"),
            "model": st.column_config.TextColumn("Model"),
            "cost": st.column_config.NumberColumn(
                "Cost", format="%d", help="Credits the job cost; while it runs, what it holds until it ends."),
            "returned": st.column_config.NumberColumn(
                "Returned", format="%d", help="Credits given back because the job failed."),
            "submitted": st.column_config.DatetimeColumn(f"Submitted ({zone})", format="YYYY-MM-DD HH:mm:ss"),
            "seconds": st.column_config.NumberColumn("Time to result", format="%.1f s"),
            "link": st.column_config.LinkColumn("Link on Rivya", display_text="open"),
            "params": st.column_config.TextColumn("Settings"),
        },
    )
    rows = event.selection.rows if event else []
    return [int(page.iloc[r]["id"]) for r in sorted(rows) if r < len(page)]


def selection_actions(jobs: list[Job]) -> None:
    """What can be done with the selected rows together: Compare 2-4 results, download them as a ZIP. One selected
    job's own actions (Animate, Download...) are on its card below, once."""
    results = [j for j in jobs if j.status == JobStatus.SUCCEEDED and j.media_paths]
    comparable = COMPARE_MIN <= len(jobs) <= COMPARE_MAX and len(results) == len(jobs)
    with st.container(horizontal=True, vertical_alignment="center"):  # no gap where a button is absent
        st.button("Compare", key="history:compare", icon=":material/compare:", disabled=not comparable,
                  help=f"Select {COMPARE_MIN} to {COMPARE_MAX} finished results to see them side by side.",
                  on_click=start_compare, args=([j.id for j in jobs], "history"))
        zip_download(results, key="history:zip")
        skipped = len(jobs) - len(results)
        st.caption(f"{len(jobs):,} selected" + (f"; {skipped:,} without a saved result" if skipped else ""))


def stuck_jobs(studio: Studio) -> None:
    if session().rechecked:
        session().rechecked = False
        st.toast("Checking every running job now.")
    running, stuck = studio.ledger.running(stuck_after=STUCK_AFTER_SECONDS)
    if running:
        row = st.container(horizontal=True, vertical_alignment="center")
        row.info(
            f"{running:,} job(s) still running"
            + (f", {stuck:,} of them for over {STUCK_AFTER_SECONDS // 60} minutes" if stuck else "")
            + ". The app keeps checking them, even with no page open.",
            icon=":material/hourglass_top:",
        )
        row.button("Check now", key="history:recheck", icon=":material/sync:", on_click=_recheck, args=(studio,))


def _recheck(studio: Studio) -> None:
    """Check now's callback: every running job is looked at again now; the page run says so (a toast sent by a run of
    one part, then followed by a page run, is dropped by Streamlit's front end)."""
    studio.jobs.recheck()
    session().rechecked = True

