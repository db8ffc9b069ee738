"""The frame the plain reference apps (e) and (f) share with every Studio page: its six pages in the sidebar, the
sound toggle and the key popover. Streamlit only: no Studio code."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

PAGES = ("Imagine Studio", "Image", "Video", "Explore", "Gallery", "History & credits")


def _other(title: str) -> Callable[[], None]:
    """A page the benchmark does not time: its title and a line."""

    def draw() -> None:
        st.title(title, anchor=False)
        st.write("The timed pages are further down the list.")

    draw.__name__ = title.lower().replace(" ", "_").replace("&", "and")
    return draw


def run_frame(page_title: str, drawn: dict[str, tuple[str, Callable[[], None]]]) -> None:
    """Serve the six pages, those named in ``drawn`` (title: its url path, its page) drawn as given, the first of the
    six ("Imagine Studio") the default; then the sidebar's toggle and popover."""
    st.set_page_config(page_title=page_title, layout="wide")
    pages = []
    for n, title in enumerate(PAGES):
        path, draw = drawn.get(title, (title.lower().replace(" ", "-").replace("&", "and"), _other(title)))
        pages.append(st.Page(draw, title=title, url_path=path, default=n == 0))
    current = st.navigation(pages, position="sidebar")
    with st.sidebar:
        st.toggle("Sound and notification when a job ends")
        with st.popover("Use my own API key", icon=":material/key:", width="stretch"):
            st.text_input("Rivya API key", type="password")
    current.run()
