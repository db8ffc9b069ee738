"""Gallery page: every result, newest first, with filters, favourites, a large view and Compare."""

from __future__ import annotations

import functools
from datetime import date

import streamlit as st

from rivya import gallery, stars, tags
from rivya.catalog import display_name
from rivya.constants import GALLERY_COUNT_CAP, GALLERY_PAGE_SIZE, MAX_COMPARED, MIN_COMPARED
from rivya.gallery import GalleryFilter, GalleryPage
from rivya.people import star_owner
from rivya.sniffing import is_video
from rivya.tasklog import Job
from rivya.thumbnails import TILE, shown_thumbnail
from rivya.tile_route import tile_address
from ui.access import current_person, page_access
from ui.compare import draw_compare, start_compare
from ui.downloads import zip_download
from ui.gallery_watch import follow_gallery
from ui.large_view import open_link
from ui.live import hand_over, read_on_change
from ui.outage import log_unreachable
from ui.session import session
from ui.text import days_note, local_time, md_escape, shorten
from ui.tiles import FULL, PICK, STAR, Press, Tile, tile_page

studio = page_access()  # first, whatever started this script: nothing is drawn before the password

# The grid: a keyed horizontal container laid out as a CSS grid, so tiles keep one width and line up in rows at any
# window width (Streamlit's columns stack one per row on a phone). Each page of tiles is one element (``ui/tiles.py``)
# inside a fragment; every wrapper between the grid and a tile is taken out of the layout (display: contents), so
# every tile, on every page, is one cell of one grid. The selection bar sticks through its layout wrapper: Streamlit
# wraps each container in one exactly its height, which would hold it in place; the bar's fragment's own two wrappers
# are taken out of the layout for the same reason. Streamlit puts a component's own <style> in a box beside its tiles:
# hidden, so it takes no cell.
MORE = '[data-testid="stHorizontalBlock"].st-key-gallery-more'  # the row: its button's box has the same key class
TILE_MIN_PX = 160  # two tiles a row on a 390-pixel phone, five or more beside the sidebar at 1400
STYLE = f"""<style>
.st-key-gallery-grid {{ display: grid !important; gap: 0.6rem;
  grid-template-columns: repeat(auto-fill, minmax({TILE_MIN_PX}px, 1fr)); align-items: start; }}
.st-key-gallery-grid div:not(.gallery-tile, .st-key-gallery-more):has(.gallery-tile, {MORE}) {{
  display: contents !important; }}
{MORE} {{ grid-column: 1 / -1; }}
.st-key-gallery-grid [data-testid="stBidiComponentRegular"] > div:not(.gallery-tiles) {{ display: none; }}
[data-testid="stLayoutWrapper"]:has(> .st-key-gallery-bar) {{ position: sticky; top: 3.75rem; z-index: 20; }}
[data-testid="stVerticalBlock"]:has(> [data-testid="stLayoutWrapper"] > .st-key-gallery-bar),
[data-testid="stLayoutWrapper"]:has(> [data-testid="stVerticalBlock"] > [data-testid="stLayoutWrapper"] > .st-key-gallery-bar) {{
  display: contents !important; }}
[data-testid="stElementContainer"]:has(.gallery-style) {{ display: none; }}
.st-key-gallery-text {{ min-width: min(100%, 16rem); }}
.st-key-gallery-bar {{ background: #fff; padding: 0.35rem 0; border-bottom: 1px solid rgb(49 51 63 / 0.12); }}
</style><span class="gallery-style"></span>"""


NO_PREVIEW = "No preview of this result."
RESULTS = "gallery-results-part"  # the results part's fragment key: a callback reruns it by its key (st.rerun)


def _reset_pages() -> None:
    """A filter changed: start again from the newest results. Only the results part runs again (the filters show
    their own new values), so no filter is sent again and none of their choices is read again."""
    session().gallery_pages = 1
    st.rerun(RESULTS)


def _more(pages: int) -> None:
    """Load more's callback: one page more than the ``pages`` drawn (a double click's second half adds none). The
    fragment holding the button reruns: it draws only the new page's tiles, and the next Load more."""
    session().gallery_pages = pages + 1


def _presses(person: str, presses: list[Press]) -> None:
    """Tiles' Star, Full size or Pick were pressed (``ui/tiles.py`` checked each press): ``on`` is what each asks for.

    Stars and picks are set as asked (one already set changes nothing), then the results part is drawn again: the bar
    counts the picks, and the tiles show what the log and the picks hold (an unstarred result leaves the grid under
    "Favourites only"). Full size opens the large view, which a page run draws.
    """
    picked = session().gallery_picked
    asked_stars = {job_id: on for job_id, tool, on in presses if tool == STAR}
    for job_id, tool, on in presses:
        if tool == PICK and on and job_id not in picked:
            picked.append(job_id)
        elif tool == PICK and not on and job_id in picked:
            picked.remove(job_id)
    starred = stars.starred(studio.log, asked_stars, person) if asked_stars else set()
    for job_id, on in asked_stars.items():
        if on != (job_id in starred):
            stars.set_star(studio.log, job_id, person, on)
    full = [job_id for job_id, tool, _ in presses if tool == FULL]
    if full:
        open_link(full[-1])
        return  # the grid's run hands over to a page run (hand_over)
    st.rerun(RESULTS)


def _clear_picks() -> None:
    """Clear's callback: every Pick released, so the whole results part is drawn again (bar and tiles)."""
    session().gallery_picked = []  # each tile's controls are set from it when drawn (``_tile``)
    st.rerun(RESULTS)


def _filters(person: str) -> None:
    """The filter widgets, drawn by the page run; ``_chosen_filter`` reads what they hold."""
    log = studio.log
    with st.container(border=True):
        models = gallery.result_models(log)
        # An empty Gallery has no model to pick: no "Model" label over nothing, and the search box has the row.
        # Wraps on a phone: the search box keeps a width to type in (STYLE), and the models go under it.
        row = st.container(horizontal=True, vertical_alignment="bottom")
        row.text_input("Search prompts or tags", key="gallery:text", on_change=_reset_pages,
                       placeholder="e.g. lighthouse, or a tag")
        if models:
            row.pills("Model", models, selection_mode="multi", format_func=display_name, key="gallery:models",
                      on_change=_reset_pages)
        st.toggle("Favourites only", key="gallery:favourites", on_change=_reset_pages,
                  help="Results you starred" if person else "Results the team starred")
        st.toggle("Grids only", key="gallery:grids", on_change=_reset_pages, help="Results made on Explore")
        # The rarer filters fold away: on a phone the results would otherwise start a whole screen down. A popover, as
        # History's: its content is built in the browser only once it is opened, so a visit, a switch from another
        # page and every page run draw one button instead of a date picker, a multiselect and a row of pills. How
        # many are chosen shows on it, so a narrowed grid says so with the popover closed (one press shows which).
        chosen = sum(1 for k in ("gallery:dates", "gallery:people", "gallery:tag") if st.session_state.get(k))
        # Keyed: its label counts what is chosen inside, and a new label must not make a new (closed) popover.
        with st.popover("More filters: dates, people, tags" + (f" ({chosen} chosen)" if chosen else ""),
                        icon=":material/filter_list:", key="gallery:more-filters", width="stretch"):
            first, last = gallery.result_days(log)
            st.date_input("Made between", value=(), min_value=first, max_value=last, key="gallery:dates",
                          on_change=_reset_pages, format="YYYY-MM-DD", help=days_note(log.timezone))
            people = gallery.makers(log)
            if person in people:  # "Mine": the signed-in viewer first, named as such
                people = {person: f"Me ({people[person]})"} | {k: v for k, v in people.items() if k != person}
            if people:
                st.multiselect("Made by", list(people), format_func=people.get, key="gallery:people",
                               on_change=_reset_pages, placeholder="Anyone")
            popular = [t for t, _ in tags.popular_tags(log, limit=12)]
            if popular:
                st.pills("Tag", popular, key="gallery:tag", on_change=_reset_pages, format_func=md_escape)


def _chosen_filter(person: str) -> GalleryFilter:
    """What the filters hold, read from their widgets' state: the results part also runs without them."""
    state = st.session_state
    picked_days = state.get("gallery:dates") or ()
    days = tuple(picked_days) if isinstance(picked_days, (tuple, list)) else (picked_days,)
    start: date | None = days[0] if days else None
    end: date | None = days[1] if len(days) > 1 else start
    return GalleryFilter(models=tuple(state.get("gallery:models") or ()),
                         favourites_of=person if state.get("gallery:favourites") else None,
                         text=state.get("gallery:text") or "", tag=state.get("gallery:tag") or "",
                         people=tuple(state.get("gallery:people") or ()), start=start, end=end,
                         grids_only=bool(state.get("gallery:grids")))


def _tile(job: Job, starred: bool) -> Tile:
    """One result as its tile shows it: a fixed 4:3 preview, one caption line, two prompt lines, Star, Full size and
    Pick, so every tile has the same height. Animate, Download, Use these settings and Copy link are in the large
    view (Full size)."""
    media_dir = studio.jobs.media_dir
    path = gallery.result_file(job, media_dir)
    video = path is not None and is_video(path)
    thumb = shown_thumbnail(path, TILE, media_dir)
    src = tile_address(thumb, media_dir) if thumb is not None else None
    kind = "Video" if video else "Image"  # Star's own look says whether it is a favourite
    # One line either way (the tile's height): why the box is empty, else what it is and when it was made.
    meta = NO_PREVIEW if src is None else " · ".join((kind, display_name(job.model), local_time(job.submitted_at)))
    return Tile(id=job.id, src=src, video=video, meta=meta, prompt=shorten(job.prompt, 120), alt=job.prompt,
                starred=starred, picked=job.id in session().gallery_picked)


def _visible_picks(shown: list[Job]) -> list[int]:
    """Keep only the picks among the tiles shown: a filter that hides a picked tile also unpicks it.

    Otherwise the bar would count, and Compare and the ZIP would take, results the filters no longer show.
    """
    visible = {j.id for j in shown}
    session().gallery_picked = [i for i in session().gallery_picked if i in visible]  # a tile's Pick is drawn from it
    return session().gallery_picked


@st.fragment
def _selection_bar(count: str) -> None:
    """"3 picked · Compare · Download ZIP · Clear", kept in view at the top while the grid scrolls (CSS: sticky).
    A part of its own, so Compare's press reruns only this before handing over to the page run that opens it."""
    hand_over()  # Compare's dialog is drawn by a page run
    picked = session().gallery_picked
    ready = MIN_COMPARED <= len(picked) <= MAX_COMPARED
    bar = st.container(horizontal=True, gap="small", vertical_alignment="center", key="gallery-bar")
    if picked:
        hint = f"**{len(picked)} picked**" + ("" if ready else f" (compare {MIN_COMPARED} to {MAX_COMPARED})") + f" · {count}"
    else:
        hint = (f"{count} · press **Pick** on {MIN_COMPARED} to {MAX_COMPARED} results to compare them, or on any to "
                "download a ZIP; :material/open_in_full: shows one full size")
    bar.caption(hint, width="stretch")
    if not picked:  # the hint says what a Pick brings: Compare, the ZIP and Clear come with the first
        return
    bar.button("Compare", key="gallery:compare", icon=":material/compare:", disabled=not ready, type="primary",
               on_click=start_compare, args=(list(picked), "gallery"))
    with bar:
        # Read again only when the log or the picks changed (the bar runs with every Pick and every live redraw).
        zip_download(read_on_change(studio.log, "gallery:picked", lambda: studio.log.many(picked), inputs=tuple(picked)),
                     key="gallery:zip")
    bar.button("Clear", key="gallery:clear", on_click=_clear_picks, icon=":material/close:",
               help="Untick every picked result")


def total_count(total: int) -> str:
    """``1 result``, ``40 results``, ``1,000+ results`` past the count's cap: the bar's count."""
    if total > GALLERY_COUNT_CAP:
        return f"{GALLERY_COUNT_CAP:,}+ results"
    return f"{total:,} result" + ("" if total == 1 else "s")


def results_count(shown: int, total: int) -> str:
    """``3 of 40 results`` while more can be loaded (``15 of 1,000+ results`` past the count's cap), else
    ``1 result`` / ``40 results``."""
    if total > GALLERY_COUNT_CAP:
        return f"{shown:,} of {GALLERY_COUNT_CAP:,}+ results"
    if shown < total:
        return f"{shown:,} of {total:,} results"
    return f"{total:,} result" + ("" if total == 1 else "s")


@st.fragment(key=RESULTS)
def _results(person: str) -> None:
    """Selection bar and grid: a search reruns only this, not the page's frame nor the filters. The grid's pages are
    one element each (``_page``); what follows the first is a part of its own (``_after``), so "Load more" sends only the
    new tiles. A press on a tile draws this whole part again (``_presses``)."""
    hand_over()  # the large view is drawn by a page run (studio_app.py), and so is Compare (gallery_page)
    jobs_filter = _chosen_filter(person)
    session().gallery_filter = jobs_filter
    signature = studio.log.signature()  # before the read: a change after it is seen by the watcher next time
    pages = gallery.page_by_page(studio.log, jobs_filter, session().gallery_pages)
    shown = [job for page in pages for job in page.jobs]
    session().gallery_drawn = (signature, tuple(j.id for j in shown))
    if not shown:
        st.info("No results match these filters." if jobs_filter != GalleryFilter() else
                "Nothing here yet: results appear once an image or video is made.", icon=":material/photo_library:")
        return
    total = (len(shown) if pages[-1].next_before is None else
             gallery.count_results(studio.log, jobs_filter, at_most=GALLERY_COUNT_CAP + 1))
    _visible_picks(shown)
    _selection_bar(f"{total_count(total)}, newest first")
    with st.container(horizontal=True, key="gallery-grid"):
        _page(pages[0].jobs, person)
        _after(1, pages[0].next_before, pages[1:], total, person)


def _page(jobs: list[Job], person: str) -> None:
    """One page of tiles, one element: a press on any of them draws the results part again (``_presses``)."""
    starred = stars.starred(studio.log, (j.id for j in jobs), person)
    tile_page([_tile(job, job.id in starred) for job in jobs], key=f"gallery-tiles-{jobs[0].id}",
              on_press=functools.partial(_presses, person))


@st.fragment
def _after(drawn: int, cursor: int | None, later: list[GalleryPage], total: int, person: str) -> None:
    """What follows the first ``drawn`` pages: the pages loaded after them (``later``, read by the whole run; read here
    when Load more reran only this), else Load more with the count shown so far."""
    hand_over()
    if cursor is None:
        return
    if session().gallery_pages <= drawn:
        with st.container(horizontal=True, vertical_alignment="center", key="gallery-more"):
            st.caption(results_count(drawn * GALLERY_PAGE_SIZE, total))
            st.button("Load more", key="gallery:more", on_click=_more, args=(drawn,), icon=":material/expand_more:")
        return
    if later:
        page, later = later[0], later[1:]
    else:  # Load more: this page is new, and the watcher's list of what is shown grows by it
        page = gallery.results_page(studio.log, session().gallery_filter or GalleryFilter(), before=cursor)
        signature, ids = session().gallery_drawn or (studio.log.signature(), ())
        session().gallery_drawn = (signature, ids[: drawn * GALLERY_PAGE_SIZE] + tuple(j.id for j in page.jobs))
    _page(page.jobs, person)
    _after(drawn + 1, page.next_before, later, total, person)


def gallery_page() -> None:
    st.title("Gallery", anchor=False)
    if log_unreachable():  # the notice above says why; the filters and tiles all read the log
        st.caption("Results show here again once the job log can be reached.")
        return
    # Markdown, not st.html: its code comes with the page, while st.html's loads on first use, and until it has the
    # grid has no layout (a new visitor saw one column of tiles). Its empty box is hidden (STYLE: .gallery-style).
    st.markdown(STYLE, unsafe_allow_html=True)
    draw_compare("gallery")
    person = star_owner(current_person())
    _filters(person)
    _results(person)
    follow_gallery(studio)  # a page run when the results it would show changed (ui/gallery_watch.py)


gallery_page()
