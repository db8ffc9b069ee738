"""Imagine Studio's frame: sign-in or password, the navigation, and the notices every page shares.

Each page's layout is in its own file under ``pages/``, listed in ``ui/page_list.py`` (Home is ``pages/home.py``).

``app.py`` serves this script; tests run it with ``AppTest`` (``tests/conftest.py``'s ``APP``).
"""

from __future__ import annotations

import streamlit as st

from ui.access import has_access, person_sidebar
from ui.large_view import open_from_link
from ui.live import WAKE_STYLE, connect, disconnect
from ui.notices import TITLE, TOAST_STYLE, watch
from ui.outage import log_down, page_frame
from ui.page_list import PAGES
from ui.services import APP_ICON, studio_or_stop


def main() -> None:
    st.set_page_config(page_title=TITLE, page_icon=str(APP_ICON), layout="wide")
    studio = studio_or_stop()
    # Every page starts with page_access(), which shows only the sign-in or password prompt until access is
    # granted; the pages are registered anyway, so a deep link still lands on its page afterwards.
    page = st.navigation(
        [st.Page(p.script, title=p.title, icon=p.icon, default=n == 0) for n, p in enumerate(PAGES)],
        position="sidebar" if has_access() else "hidden",
    )
    # While the job log cannot be reached, every page keeps this frame and says so in plain words (ui/outage.py).
    with page_frame(probe=has_access()):
        if has_access():
            st.html(TOAST_STYLE + WAKE_STYLE)  # style only, one element: Streamlit puts it where it takes no room
            person_sidebar()  # who is signed in, and Sign out
            watch(studio, page.url_path)  # on every page: toasts and the tab's count when this person's jobs end
            with st.sidebar:
                connect(studio)  # the page's live parts are woken when the log changes (ui/live.py)
            if not log_down():
                open_from_link()  # a ?job=<id> link opens that result's large view on any page
        else:
            disconnect(studio)
        page.run()


main()
