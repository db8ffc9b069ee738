"""Gallery page: every result, newest first, with filters, favourites, a large view and Compare."""

from __future__ import annotations

from datetime import date

import streamlit as st

from rivya import gallery, stars, tags
from rivya.catalog import display_name
from rivya.constants import MAX_COMPARED, MIN_COMPARED
from rivya.gallery import GalleryFilter
from rivya.people import star_owner
from rivya.sniffing import is_video
from rivya.tasklog import Job
from rivya.thumbnails import TILE, blank, shown_thumbnail
from ui.access import current_person, page_access
from ui.actions import animate_button, star_button
from ui.compare import open_compare
from ui.downloads import zip_download
from ui.form import widget_key
from ui.large_view import open_link
from ui.outage import log_unreachable
from ui.session import session
from ui.text import days_note, local_time, md_escape, shorten

studio = page_access()  # first, whatever started this script: nothing is drawn before the password

COLUMNS = 3  # tiles per row: wide enough for a tile's three controls on one line


def _pick_key(job_id: int) -> str:
    """A tile's Pick box: its widget key."""
    return widget_key("gallery", f"pick:{job_id}")


def _reset_pages() -> None:
    """A filter changed: start again from the newest results."""
    session().gallery_pages = 1


def _more() -> None:
    session().gallery_pages += 1


def _pick(job_id: int) -> None:
    picked = session().gallery_picked
    if st.session_state[_pick_key(job_id)]:
        picked.append(job_id)
    elif job_id in picked:
        picked.remove(job_id)


def _compare(picked: list[int]) -> None:
    """Compare's callback: the next page run shows these results side by side."""
    session().gallery_comparing = picked


def _clear_picks() -> None:
    picked, session().gallery_picked = session().gallery_picked, []
    for job_id in picked:
        st.session_state[_pick_key(job_id)] = False


def _filters(person: str) -> GalleryFilter:
    log = studio.log
    with st.container(border=True):
        search, kinds = st.columns([3, 2], vertical_alignment="bottom")
        text = search.text_input("Search prompts or tags", key="gallery:text", on_change=_reset_pages,
                                 placeholder="e.g. lighthouse, or a tag")
        models = kinds.pills("Model", gallery.result_models(log), selection_mode="multi", format_func=display_name,
                             key="gallery:models", on_change=_reset_pages)
        favourites = st.toggle("Favourites only", key="gallery:favourites", on_change=_reset_pages,
                               help="Results you starred" if person else "Results the team starred")
        grids = st.toggle("Grids only", key="gallery:grids", on_change=_reset_pages, help="Results made on Explore")
        # The rarer filters fold away: on a phone the results would otherwise start a whole screen down.
        more = ("gallery:dates", "gallery:people", "gallery:tag")
        with st.expander("More filters: dates, people, tags", expanded=any(st.session_state.get(k) for k in more)):
            first, last = gallery.result_days(log)
            picked_days = st.date_input("Made between", value=(), min_value=first, max_value=last, key="gallery:dates",
                                        on_change=_reset_pages, format="YYYY-MM-DD",
                                        help=days_note(log.timezone))
            people = gallery.makers(log)
            if person in people:  # "Mine": the signed-in viewer first, named as such
                people = {person: f"Me ({people[person]})"} | {k: v for k, v in people.items() if k != person}
            makers = st.multiselect("Made by", list(people), format_func=people.get, key="gallery:people",
                                    on_change=_reset_pages, placeholder="Anyone") if people else []
            popular = [t for t, _ in tags.popular_tags(log, limit=12)]
            tag = st.pills("Tag", popular, key="gallery:tag", on_change=_reset_pages, format_func=md_escape) if popular else None
    days = tuple(picked_days) if isinstance(picked_days, (tuple, list)) else (picked_days,)
    start: date | None = days[0] if days else None
    end: date | None = days[1] if len(days) > 1 else start
    return GalleryFilter(models=tuple(models or ()), favourites_of=person if favourites else None, text=text or "",
                         tag=tag or "", people=tuple(makers), start=start, end=end, grids_only=grids)


def _tile(job: Job, starred: bool, person: str) -> None:
    media_dir = studio.jobs.media_dir
    with st.container(border=True):
        path = gallery.result_file(job, media_dir)
        thumb = shown_thumbnail(path, TILE, media_dir)
        if thumb is not None:  # served by URL: the browser keeps it, so a rerun (a star, a pick) sends no image again
            st.image(str(thumb), width="stretch")
        else:  # the same box as a preview, so this tile keeps the grid's shape instead of looking torn
            st.image(blank(TILE), width="stretch")
            st.caption("No preview of this result.")
        kind = ":material/movie: Video" if path is not None and is_video(path) else ":material/image: Image"
        st.caption(f"{kind} · {md_escape(display_name(job.model))} · {local_time(job.submitted_at)}")
        st.markdown(md_escape(shorten(job.prompt, 91)))
        with st.container(horizontal=True, gap="small", vertical_alignment="center"):
            st.button("Open", key=f"gallery:open:{job.id}", on_click=open_link, args=(job.id,), icon=":material/open_in_full:")
            star_button(job.id, starred, person, key=f"gallery:star:{job.id}")
            animate_button(job, key=f"gallery:animate:{job.id}", compact=True)
            st.checkbox("Pick", key=_pick_key(job.id), on_change=_pick, args=(job.id,))  # the bar above explains


def _visible_picks(shown: list[Job]) -> list[int]:
    """Keep only the picks among the tiles shown: a filter that hides a picked tile also unpicks it.

    Otherwise the bar would count, and Compare and the ZIP would take, results the filters no longer show.
    """
    visible = {j.id for j in shown}
    picked = [i for i in session().gallery_picked if i in visible]
    for job_id in session().gallery_picked:
        if job_id not in visible:
            st.session_state.pop(_pick_key(job_id), None)  # ticked again only when it is shown again
    session().gallery_picked = picked
    return picked


def _compare_bar(count: str, picked: list[int]) -> None:
    ready = MIN_COMPARED <= len(picked) <= MAX_COMPARED
    bar = st.container(horizontal=True, gap="small", vertical_alignment="center")
    if picked:
        hint = f"{len(picked)} picked for Compare" + ("" if ready else f" (pick {MIN_COMPARED} to {MAX_COMPARED})")
    else:
        hint = f"tick **Pick** on {MIN_COMPARED} to {MAX_COMPARED} results to compare them, or on any to download a ZIP"
    bar.caption(f"{count} · {hint}", width="stretch")
    bar.button("Compare", key="gallery:compare", icon=":material/compare:", disabled=not ready, type="primary",
                   on_click=_compare, args=(list(picked),))
    if picked:
        with bar:
            zip_download(studio.log.many(picked), key="gallery:zip")
    bar.button("Clear picks", key="gallery:clear", on_click=_clear_picks, disabled=not picked)


def results_count(shown: int, total: int) -> str:
    """``3 of 40 results`` while more can be loaded, else ``1 result`` / ``40 results``."""
    if shown < total:
        return f"{shown:,} of {total:,} results"
    return f"{total:,} result" + ("" if total == 1 else "s")


def gallery_page() -> None:
    st.title("Gallery", anchor=False)
    if log_unreachable():  # the notice above says why; the filters and tiles all read the log
        st.caption("Results show here again once the job log can be reached.")
        return
    person = star_owner(current_person())
    jobs_filter = _filters(person)
    pages = session().gallery_pages
    shown = gallery.results_pages(studio.log, jobs_filter, pages)
    total = gallery.count_results(studio.log, jobs_filter)
    if not shown.jobs:
        st.info("No results match these filters." if jobs_filter != GalleryFilter() else
                "Nothing here yet: results appear once an image or video is made.", icon=":material/photo_library:")
        return
    _compare_bar(f"{results_count(len(shown.jobs), total)}, newest first", _visible_picks(shown.jobs))
    comparing, session().gallery_comparing = session().gallery_comparing, None
    if comparing:
        open_compare(comparing)
    starred = stars.starred(studio.log, (j.id for j in shown.jobs), person)
    for row in range(0, len(shown.jobs), COLUMNS):
        for column, job in zip(st.columns(COLUMNS), shown.jobs[row : row + COLUMNS], strict=False):
            with column:
                _tile(job, job.id in starred, person)
    if shown.next_before is not None:
        st.button("Load more", key="gallery:more", on_click=_more, icon=":material/expand_more:")


gallery_page()
