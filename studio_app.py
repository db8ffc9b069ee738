"""Imagine Studio's pages: sign-in or password, the navigation, and the home page (backend, balance, links, results).

``app.py`` serves this script; tests run it with ``AppTest`` (``tests/conftest.py``'s ``APP``).
"""

from __future__ import annotations

import streamlit as st

from rivya.catalog import MODELS
from rivya.errors import RivyaError
from rivya.messages import explain
from rivya.status import JobStatus
from ui.access import has_access, key_owner, page_access, person_sidebar
from ui.generate import ICONS
from ui.jobs_view import show_thumbnail
from ui.large_view import open_from_link, open_link
from ui.notices import TITLE, watch
from ui.outage import log_down, page_frame
from ui.services import PAGE_FOR_CATEGORY, demo_banner, studio_or_stop
from ui.text import credits_text, md_escape


def home() -> None:
    studio = page_access()
    st.title("Imagine Studio", anchor=False)
    st.caption("Make images and videos with Grok Imagine. Type a prompt, press Generate, and watch it finish.")
    demo_banner(studio)
    backend, balance, jobs = st.columns(3)
    backend.metric("Connected to", "Sandbox" if studio.sandbox else "Rivya API")
    if not studio.sandbox:  # the demo banner above already explains the sandbox
        backend.caption(md_escape(studio.backend_label))
    try:
        balance.metric("Credit balance", credits_text(studio.balance(key_owner())))
    except RivyaError as exc:
        words = explain(exc)
        balance.metric("Credit balance", "—")
        balance.caption(f"{md_escape(words.title)} {md_escape(words.action)}")
    down = log_down()  # the notice above says why; the links below still work
    jobs.metric("Jobs in the log", "—" if down else f"{studio.log.count():,}")
    st.subheader("Start", anchor=False)
    columns = st.columns(len(MODELS) + 2)
    for column, spec in zip(columns, MODELS.values(), strict=False):
        with column.container(border=True):
            st.page_link(PAGE_FOR_CATEGORY[spec.category], label=f"Make {'an' if spec.category[0] in 'aeiou' else 'a'} "
                         f"{spec.category}", icon=ICONS.get(spec.category))
            st.caption(f"{spec.display_name} · {spec.base_credits} credits")
    with columns[-2].container(border=True):
        st.page_link("pages/gallery.py", label="Gallery", icon=":material/photo_library:")
        st.caption("Results, favourites, Compare")
    with columns[-1].container(border=True):
        st.page_link("pages/history.py", label="History & credits", icon=":material/receipt_long:")
        st.caption("Every job and what it cost")
    recent = [] if down else [j for j in studio.log.recent(limit=30) if j.status == JobStatus.SUCCEEDED][:4]
    if recent:
        st.subheader("Recent results", anchor=False)
        for column, job in zip(st.columns(4), recent, strict=False):
            with column:
                show_thumbnail(job)  # a few KB each: every visit to Home would otherwise send four full results
                kind = ":material/movie: Video · " if job.category == "video" else ""
                st.caption(kind + md_escape(job.prompt[:120]))
                st.button("Open", key=f"home:open:{job.id}", on_click=open_link, args=(job.id,),
                          icon=":material/open_in_full:")  # the large view, as a Gallery tile opens it


def main() -> None:
    st.set_page_config(page_title=TITLE, page_icon=":material/auto_awesome:", layout="wide")
    studio_or_stop()
    # Every page starts with page_access(), which shows only the sign-in or password prompt until access is
    # granted; the pages are registered anyway, so a deep link still lands on its page afterwards.
    page = st.navigation(
        [
            st.Page(home, title="Home", icon=":material/home:", default=True),
            st.Page("pages/image.py", title="Image", icon=":material/image:"),
            st.Page("pages/video.py", title="Video", icon=":material/movie:"),
            st.Page("pages/gallery.py", title="Gallery", icon=":material/photo_library:"),
            st.Page("pages/history.py", title="History & credits", icon=":material/receipt_long:"),
        ],
        position="sidebar" if has_access() else "hidden",
    )
    # While the job log cannot be reached, every page keeps this frame and says so in plain words (ui/outage.py).
    with page_frame(probe=has_access()):
        if has_access():
            person_sidebar()  # who is signed in, and Sign out
            watch(page.url_path)  # on every page: toasts and the tab's count when this person's jobs end
            if not log_down():
                open_from_link()  # a ?job=<id> link opens that result's large view on any page
        page.run()


main()
