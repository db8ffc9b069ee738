"""Home page: the backend, the credit balance, links to every page and the latest results."""

from __future__ import annotations

import streamlit as st

from rivya.catalog import MODELS
from rivya.errors import RivyaError
from rivya.messages import explain
from rivya.status import JobStatus
from rivya.studio import Studio
from ui.access import key_owner, page_access
from ui.generate import ICONS
from ui.jobs_view import show_thumbnail
from ui.large_view import open_link
from ui.outage import log_down
from ui.services import PAGE_FOR_CATEGORY, demo_banner
from ui.text import credits_text, md_escape

studio = page_access()  # first, whatever started this script: nothing is drawn before the password


def home_page(studio: Studio) -> None:
    """The landing page: where jobs run, what is left to spend, and a way into every other page."""
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


home_page(studio)
