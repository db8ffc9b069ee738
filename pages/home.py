"""Home page: the backend, the credit balance, links to every page and the latest results (live)."""

from __future__ import annotations

import streamlit as st

from rivya.catalog import MODELS
from rivya.errors import RivyaError
from rivya.messages import explain
from rivya.people import star_owner
from rivya.stars import starred
from rivya.status import JobStatus
from rivya.studio import Studio
from rivya.tasklog import Job
from ui.access import current_person, key_owner, page_access
from ui.actions import result_actions
from ui.generate import ICONS
from ui.jobs_view import show_thumbnail
from ui.live import live_section, read_on_change
from ui.outage import log_down
from ui.services import PAGE_FOR_CATEGORY, demo_banner
from ui.text import credits_text, md_escape, shorten

studio = page_access()  # first, whatever started this script: nothing is drawn before the password

RECENT = 4  # results shown under "Recent results"
RECENT_WINDOW = 30  # newest jobs read to find them (and to count the ones still running)


def _recent(studio: Studio) -> tuple[list[Job], int]:
    """The newest results and how many of the newest jobs are still running: one read, repeated only when the log
    changed."""
    jobs = read_on_change(studio.log, "home:recent", lambda: studio.log.recent(limit=RECENT_WINDOW))
    done = [j for j in jobs if j.status == JobStatus.SUCCEEDED][:RECENT]
    return done, sum(not j.is_done for j in jobs)


def _recent_results(studio: Studio) -> None:
    """The live part of Home: the newest results with their actions, and the jobs still on their way."""
    recent, running = _recent(studio)
    if not recent and not running:
        return
    st.subheader("Recent results", anchor=False)
    if running:
        st.caption(f":material/autorenew: {running} {'job is' if running == 1 else 'jobs are'} still running; "
                   "each shows here when it is done.")
    person = star_owner(current_person())
    stars = starred(studio.log, [j.id for j in recent], person)  # read on every refresh: a star is not a log change
    for column, job in zip(st.columns(RECENT), recent, strict=False):
        with column.container(border=True, key=f"home:card:{job.id}"):
            show_thumbnail(job)  # a few KB each: every visit to Home would otherwise send four full results
            kind = ":material/movie: Video · " if job.category == "video" else ""
            st.caption(kind + md_escape(shorten(job.prompt, 120)))
            result_actions(job, "home", starred=job.id in stars, person=person, compact=True)


def home_page(studio: Studio) -> None:
    """The landing page: where jobs run, what is left to spend, and a way into every other page."""
    st.title("Imagine Studio", anchor=False)
    st.caption("Make images and videos with Grok Imagine. Type a prompt, press Generate, and watch it finish.")
    demo_banner(studio)
    # Rows that wrap rather than columns, which a phone stacks one per row: the figures and links then take two rows
    # there instead of seven, and the recent results come into the first screens.
    figures = st.container(horizontal=True, gap="medium")
    backend, balance, jobs = (figures.container(width="stretch") for _ in range(3))
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
    jobs.metric("Jobs", "—" if down else f"{studio.log.signature()[0]:,}")  # the counter's row count: no table scan
    st.subheader("Start", anchor=False)
    links = st.container(horizontal=True, gap="small")
    # As tall as the tallest in their row: a card whose words wrap (on a phone) does not stand out from its neighbour.
    columns = [links.container(border=True, width="stretch", height="stretch", key=f"home-start-{n}")
               for n in range(len(MODELS) + 2)]
    for column, spec in zip(columns, MODELS.values(), strict=False):
        with column:
            st.page_link(PAGE_FOR_CATEGORY[spec.category], label=f"Make {'an' if spec.category[0] in 'aeiou' else 'a'} "
                         f"{spec.category}", icon=ICONS.get(spec.category))
            st.caption(f"{spec.display_name} · {spec.base_credits} credits")
    with columns[-2]:
        st.page_link("pages/gallery.py", label="Gallery", icon=":material/photo_library:")
        st.caption("Results, favourites, Compare")
    with columns[-1]:
        st.page_link("pages/history.py", label="History & credits", icon=":material/receipt_long:")
        st.caption("Every job and what it cost")
    if not down:
        live_section(lambda: _recent_results(studio))


home_page(studio)
