"""The large view of one result (a dialog), and links that open it: ``?job=<id>`` in the page's address.

The address carries the open result: opening a tile sets ``?job=<id>``, closing the dialog removes it,
and any page run that finds it (``open_from_link``) shows the dialog. So a copied link, a reload, or a
server restart all bring the same view back, served from the saved copy, never Rivya's expired link.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin

import streamlit as st

from rivya import stars, tags
from rivya.catalog import MODELS, describe_params, display_name
from rivya.errors import InvalidInputError
from rivya.gallery import GalleryFilter, neighbours, result_file
from rivya.lineage import lineage
from rivya.media import result_image_size
from rivya.people import star_owner
from rivya.resources import is_web_url
from rivya.sniffing import is_video
from rivya.status import JobStatus
from rivya.tasklog import Job
from ui.access import current_person
from ui.actions import result_actions
from ui.form import widget_key
from ui.outage import outage_guard
from ui.pictures import show_result_image
from ui.services import current_studio
from ui.session import session
from ui.text import local_time, md_escape

LINK_PARAM = "job"
GALLERY_PATH = "gallery"
# A result is drawn at most this tall (about 70% of a 800-pixel-high window), so its controls stay in view;
# the result's column in the large dialog is about COLUMN_PX wide on a desktop.
MAX_MEDIA_PX = 560
COLUMN_PX = 640


def link_to(job_id: int) -> str:
    """The address that opens this result's large view (the Gallery page, on this server)."""
    tail = f"{GALLERY_PATH}?{LINK_PARAM}={job_id}"
    here = st.context.url  # None outside a browser session (AppTest): then the link from the server's root
    return urljoin(here.split("?", 1)[0], tail) if here else f"/{tail}"


def open_link(job_id: int) -> None:
    """Button callback: show ``job_id`` in the large view (and put it in the address, so it can be shared).

    The large view is drawn by a page run (``open_from_link``). Pressed in a part of a page or in another dialog,
    whose own rerun does not draw it, that rerun hands over to a page run (``ui.live.hand_over``).
    """
    st.query_params[LINK_PARAM] = str(job_id)
    session().shown = job_id
    session().opening = True


def _tags_key(job_id: int | None) -> str:
    """The tag box's widget key for one result."""
    return widget_key("large", f"tags:{job_id}")


def close_large_view() -> None:
    """The dialog was dismissed, or another opens: forget the result it showed and take it out of the address."""
    st.query_params.pop(LINK_PARAM, None)
    shown, session().shown = session().shown, None
    st.session_state.pop(_tags_key(shown), None)


def linked_job_id() -> int | None:
    """The result the address names (``?job=<id>``): ASCII digits that fit a log id, else None."""
    raw = st.query_params.get(LINK_PARAM) or ""
    return int(raw) if re.fullmatch(r"[0-9]{1,18}", raw) and int(raw) > 0 else None


def open_from_link() -> None:
    """Show the large view when the address names a result (``?job=<id>``); call once per page run.

    ``studio_app.py`` calls it on every page, before the page runs.
    """
    session().opening = False  # this page run draws what an Open asked for: no part of it need hand over
    raw = st.query_params.get(LINK_PARAM)
    if raw is None:
        return
    job_id = linked_job_id()
    if job_id is None:
        st.query_params.pop(LINK_PARAM, None)
        st.warning(f"The link names result “{md_escape(raw[:40])}”, which is not a result number.", icon=":material/link_off:")
        return
    if session().shown is None or session().linked != job_id:
        session().shown = job_id  # a new link wins over a result left open earlier in this session
    session().linked = job_id
    show_large(job_id)


def _save_tags(job_id: int) -> None:
    """Multiselect callback: add the tags newly picked or typed, remove those taken out."""
    log = current_studio().log
    wanted = st.session_state.get(_tags_key(job_id))
    if wanted is None:  # the view was closed (its box forgotten) before the browser last sent the box: nothing to save
        return
    had = tags.tags_of(log, [job_id]).get(job_id, [])
    try:
        for tag in wanted:
            if tag.casefold() not in {t.casefold() for t in had}:
                tags.add_tag(log, job_id, tag)
    except InvalidInputError as exc:
        session().tag_error = " ".join(exc.problems)
    for tag in had:
        if tag.casefold() not in {t.casefold() for t in wanted}:
            tags.remove_tag(log, job_id, tag)
    st.session_state.pop(_tags_key(job_id), None)  # redrawn from the log: the stored spelling wins


def _shape(job: Job, path: Path) -> tuple[int, int] | None:
    """Width and height (or their ratio) of the result: an image's header, else the video's aspect ratio."""
    if not is_video(path):
        return result_image_size(path)
    spec = MODELS.get(job.model)
    default = spec.param("aspect_ratio") if spec else None
    ratio = str(job.params.get("aspect_ratio") or (default.default if default else ""))
    match = re.fullmatch(r"(\d{1,3}):(\d{1,3})", ratio)
    return (int(match[1]), int(match[2])) if match and int(match[2]) else None


def capped_width(shape: tuple[int, int] | None) -> int | Literal["stretch"]:
    """The display width that keeps a result at most ``MAX_MEDIA_PX`` tall; "stretch" when its column already does.

    A 2:3 video filling the column is over 800 pixels tall, so Star, Tags and Download fall below the fold.
    """
    if shape is None or shape[1] <= 0:
        return "stretch"
    width = round(MAX_MEDIA_PX * shape[0] / shape[1])
    return width if width < COLUMN_PX else "stretch"


def _show_result(job: Job) -> None:
    """The result, or words saying why it cannot be shown (a damaged picture: a placeholder). A video's player says
    so itself if it cannot play."""
    path = result_file(job, current_studio().jobs.media_dir)
    if path is not None and is_video(path):
        st.video(str(path), format=mimetypes.guess_type(path.name)[0] or "video/mp4", width=capped_width(_shape(job, path)))
        return
    if path is not None:
        show_result_image(path, width=capped_width(_shape(job, path)))
        return
    if job.status != JobStatus.SUCCEEDED:
        st.info(f"This job has no result: it is {md_escape(job.status)}.", icon=":material/info:")
    else:
        st.warning("This result is not saved here, so it cannot be shown.", icon=":material/broken_image:")
        link = job.result_urls[0] if job.result_urls else None
        if is_web_url(link):
            st.link_button("Open Rivya's link (it may have expired)", link, icon=":material/open_in_new:")


def _chain_line(job: Job) -> str:
    return f"#{job.id} · {display_name(job.model)} · {job.charged_credits:,} credits · {md_escape(job.prompt[:60])}"


def _move_to(job_id: int) -> None:
    """A lineage link's callback: the open dialog shows that result instead."""
    session().shown = job_id


def _lineage(job: Job) -> None:
    chain = lineage(current_studio().log, job)
    if not chain.ancestors and not chain.children:
        return
    with st.container(border=True):
        st.markdown(f"**Source and results made from it** · the whole chain cost **{chain.total_credits:,} credits**")
        links = [(f"Source {other.category}", other) for other in chain.ancestors]
        links += [("Animated into" if other.category == "video" else "Made into", other) for other in chain.children]
        for label, other in links:
            st.button(f"{label}: {_chain_line(other)}", key=f"large:chain:{job.id}:{other.id}", type="tertiary",
                      on_click=_move_to, args=(other.id,), icon=":material/link:")


def _details(job: Job) -> None:
    st.code(job.prompt, language=None, wrap_lines=True)
    settings = describe_params(job.model, job.params)
    st.markdown(f"**{md_escape(display_name(job.model))}**" + (f" · {md_escape(settings)}" if settings else ""))
    who = md_escape(job.person_name or job.person or "")  # nobody signed in: no maker to name
    maker = f" · made by {who}" if who else ""
    st.markdown(f"**{job.charged_credits:,} credits**{maker} · {local_time(job.submitted_at)}")


def _actions(job: Job) -> None:
    """The result's row of actions, as on every card (``ui.actions.result_actions``), less Full size: it is shown
    large here. Animate and Download only for a saved result that decodes (a damaged file would fail as a video's
    source and download as something nobody can open)."""
    person = star_owner(current_person())
    starred = job.id in stars.starred(current_studio().log, [job.id], person)
    result_actions(job, "large", starred=starred, person=person, full_size=False)


def _tags(job: Job) -> None:
    log = current_studio().log
    key = _tags_key(job.id)
    current = tags.tags_of(log, [job.id]).get(job.id, [])
    if key not in st.session_state:
        st.session_state[key] = current
    known = [t for t, _ in tags.popular_tags(log)]
    st.multiselect("Tags", sorted({*known, *current}, key=str.casefold), key=key, accept_new_options=True,
                   on_change=_save_tags, args=(job.id,), placeholder="Add a tag…")
    error, session().tag_error = session().tag_error, None
    if error:
        st.error(md_escape(error))


def _step(job_id: int) -> None:
    """Previous / Next: the open dialog shows that result, and the address names it."""
    session().shown = job_id
    session().linked = job_id
    st.query_params[LINK_PARAM] = str(job_id)


def _steps(job: Job) -> None:
    """Previous / Next (also the left and right arrow keys) across the results the Gallery's filters match,
    newest first as the grid shows them, round from either end; from another page, across every result."""
    newer, older = neighbours(current_studio().log, session().gallery_filter or GalleryFilter(), job.id)
    row = st.container(horizontal=True, gap="small", vertical_alignment="center", horizontal_alignment="right")
    row.button("Previous", key="large:previous", icon=":material/chevron_left:", shortcut="left", disabled=newer is None,
               on_click=_step, args=(newer,), help="The newer result; from the newest, the oldest (left arrow key)")
    row.button("Next", key="large:next", icon=":material/chevron_right:", icon_position="right", shortcut="right",
               disabled=older is None, on_click=_step, args=(older,),
               help="The older result; from the oldest, the newest (right arrow key)")


@st.dialog("Result", width="large", on_dismiss=close_large_view)
@outage_guard()  # the dialog's own reruns run outside the page's frame (ui/outage.py)
def show_large(job_id: int) -> None:
    """The result at full size with its prompt, settings, cost, maker, lineage, star, tags and actions."""
    if session().goto_page:  # Animate or Use these settings was pressed: the page run switches page
        st.query_params.pop(LINK_PARAM, None)
        st.rerun()
    job = current_studio().log.get(session().shown or job_id)
    if job is None:
        st.warning(
            f"There is no result #{job_id} in this studio. The link may be mistyped, or it comes from another "
            "installation of Imagine Studio.", icon=":material/search_off:")
        return
    heading, steps = st.columns([3, 2], vertical_alignment="center")
    heading.subheader(f"#{job.id} · {display_name(job.model)}", anchor=False)
    with steps:
        _steps(job)
    result, about = st.columns([3, 2])  # side by side on a desktop, one under the other on a phone
    with result:
        _show_result(job)
    with about:
        _details(job)
        _actions(job)
        _tags(job)  # last: its open list of tags drops over nothing but the space below, never over a button
    _lineage(job)
