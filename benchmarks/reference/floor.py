"""The pages of reference apps (b) and (c): the floor a Studio page is measured against."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import pandas as pd
import streamlit as st
from PIL import Image

ROWS = 50
PAGES = ("Overview", "Records", "Pictures", "Settings")
WORDS = ("misty lighthouse", "neon fox", "golden owl", "quiet harbor", "tiny robot")


@st.cache_data
def table() -> pd.DataFrame:
    """50 rows, made once per process (as an app caches what does not change)."""
    return pd.DataFrame({
        "id": range(1, ROWS + 1),
        "prompt": [f"a {WORDS[n % len(WORDS)]} number {n}" for n in range(ROWS)],
        "status": ["succeeded" if n % 7 else "failed" for n in range(ROWS)],
        "credits": [4 + n % 3 * 3 for n in range(ROWS)],
    })


@st.cache_data
def thumbnails() -> pd.DataFrame:
    """12 small PNGs as data URLs (served by no other host)."""
    urls = []
    for n in range(12):
        buffer = io.BytesIO()
        Image.new("RGB", (48, 48), (40 + n * 17, 90, 200 - n * 11)).save(buffer, "PNG")
        urls.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    return pd.DataFrame({"picture": urls, "prompt": [f"picture {n}" for n in range(12)]})


def page(title: str, *, extras: bool) -> Callable[[], None]:
    """One page: title, 3 metrics, a filter box over the 50-row table, its caption; (c) adds pictures and a chart."""

    def draw() -> None:
        st.title(title, anchor=False)
        one, two, three = st.columns(3)
        one.metric("Jobs", f"{ROWS:,}")
        two.metric("Credits", "1,234")
        three.metric("Running", "4")
        words = st.text_input("Filter")
        rows = table()
        shown = rows[rows["prompt"].str.contains(words, case=False, regex=False)] if words else rows
        st.dataframe(shown, hide_index=True)
        st.caption(f"{len(shown)} of {ROWS} rows")
        if extras:
            st.dataframe(thumbnails(), column_config={"picture": st.column_config.ImageColumn()}, hide_index=True)
            st.bar_chart(rows.groupby("status")["credits"].sum())

    draw.__name__ = title.lower()  # the page's URL path
    return draw


def run(*, extras: bool) -> None:
    """The app: 4 pages in the sidebar's navigation, and a line of the sidebar's own."""
    st.set_page_config(page_title="Reference", layout="wide")
    pages = [st.Page(page(title, extras=extras), title=title, url_path=title.lower(), default=n == 0)
             for n, title in enumerate(PAGES)]
    current = st.navigation(pages, position="sidebar")
    st.sidebar.caption("Reference app")
    current.run()
