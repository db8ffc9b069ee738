"""What every result offers wherever it is shown (job card, batch cell, Gallery, large view, History): one row of
labelled actions, ``result_actions``, and its pieces. One definition each, so a favourite or a hand-off looks and
behaves the same everywhere."""

from __future__ import annotations

import html
from collections.abc import Callable

import streamlit as st

from rivya.catalog import MODELS
from rivya.gallery import result_file
from rivya.media import result_image_size
from rivya.stars import set_star
from rivya.tasklog import Job
from ui.downloads import download_button
from ui.form import use_job_settings
from ui.services import PAGE_FOR_CATEGORY, current_studio
from ui.session import session

# The click handler behind every "Copy link" button, installed once per tab: one listener for all of them, so a card
# redrawn by a refresh needs no script of its own to run again. The clipboard API needs the click itself (a user
# gesture), which is why the copy happens in the browser rather than after a round trip to the server.
_COPY_SCRIPT = """<script>
if (!window.__studioCopyLink) {
  window.__studioCopyLink = true;
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy-link]");
    if (!button) return;
    const link = new URL(button.dataset.copyLink, document.baseURI).href;
    const label = button.querySelector("[data-label]");
    try {
      await navigator.clipboard.writeText(link);
      label.textContent = "Link copied";
    } catch (e) {
      window.prompt("Copy this link:", link);
    }
    setTimeout(() => { label.textContent = "Copy link"; }, 2000);
  });
}
</script>"""
# Close to a Streamlit secondary button, so the row reads as one row; colours follow the theme's text colour.
_COPY_STYLE = (
    "display:inline-flex;align-items:center;gap:.5rem;min-height:2.5rem;padding:.25rem .75rem;font:inherit;font-size:.875rem;"
    "color:inherit;background:transparent;border:1px solid color-mix(in srgb,currentColor 18%,transparent);"
    "border-radius:.5rem;cursor:pointer;white-space:nowrap;line-height:1.6"
)
# Streamlit's own icon font (bundled with it, as its buttons' icons are); hidden from screen readers, which read the words.
_LINK_ICON = (
    '<span aria-hidden="true" style="font-family:\'Material Symbols Rounded\';font-size:1.25rem;line-height:1;'
    'font-feature-settings:\'liga\'">link</span>'
)


def _animate(job_id: int) -> None:
    session().animate_from = job_id
    session().goto_page = PAGE_FOR_CATEGORY["video"]


def animate_button(job: Job, *, key: str, compact: bool = False) -> None:
    """``Animate`` for a finished image whose result is saved here; nothing for anything else.

    ``compact``: the icon alone (its words in the tooltip), for a tile or a grid cell.
    """
    if job.category != "image" or not job.media_paths:
        return
    st.button("" if compact else "Animate", key=key, icon=":material/movie:", on_click=_animate, args=(job.id,),
              help="Animate: open the Video page with this image attached and its prompt filled in.")


def _toggle_star(job_id: int, person: str, starred: bool) -> None:
    set_star(current_studio().log, job_id, person, starred)


def star_button(job_id: int, starred: bool, person: str, *, key: str) -> None:
    """One star that toggles, for ``person`` (a ``rivya.people.star_owner`` value); a result is a favourite or
    not (``st.feedback``'s five stars would rate it)."""
    st.button(
        "Starred" if starred else "Star",
        key=key,
        icon=":material/star:" if starred else ":material/star_outline:",
        type="primary" if starred else "secondary",
        on_click=_toggle_star,
        args=(job_id, person, not starred),
        help="Remove from favourites" if starred else "Add to favourites",
    )


def use_settings_button(job: Job, *, key: str) -> None:
    """Disabled for a model this app no longer offers (its form does not exist)."""
    st.button("Use these settings", key=key, on_click=use_job_settings, args=(job,), icon=":material/replay:",
              disabled=job.model not in MODELS,
              help="Fill the form with this prompt and these settings; nothing is sent until you press Generate.")


def edit_and_retry_button(job: Job, *, key: str) -> None:
    """Beside Try again on a failure: the prompt and settings back in the form, to change before sending again."""
    st.button("Edit and try again", key=key, on_click=use_job_settings, args=(job,), icon=":material/edit:",
              disabled=job.model not in MODELS,
              help="Put this prompt and these settings back in the form to change them; nothing is sent until you "
                   "press Generate.")


def copy_link_button(link: str) -> None:
    """"Copy link": puts the result's address (``ui.large_view.link_to``) on the clipboard with one click."""
    st.html(
        f'<button type="button" data-copy-link="{html.escape(link, quote=True)}" style="{_COPY_STYLE}" '
        f'title="Copy the link to this result: anyone on the team can open it">{_LINK_ICON}<span data-label>Copy link</span>'
        f"</button>{_COPY_SCRIPT}",
        unsafe_allow_javascript=True,
        width="content",
    )


def _decodes(job: Job) -> bool:
    """False for an image whose saved file is missing or does not decode: the card and the large view show a
    placeholder there, so it is neither a video's source nor a file to download (not the picture it claims to be)."""
    if job.category != "image":
        return True
    path = result_file(job, current_studio().jobs.media_dir)
    return path is not None and result_image_size(path) is not None


def result_download(job: Job, *, key: str) -> None:
    """Download for a saved result, with its recipe inside; none for an image file that does not decode."""
    if _decodes(job):
        download_button(job, key=key)  # the file carries its recipe; made on click


def full_size_button(job_id: int, *, key: str, on_click: Callable[[int], None] | None = None) -> None:
    """"Full size": the result in the large view, through its ``?job=`` link. ``on_click`` replaces the opener
    (Compare's, which closes its dialog first)."""
    from ui.large_view import open_link  # the large view draws this row too: imported when used, not at import

    st.button("Full size", key=key, icon=":material/open_in_full:", on_click=on_click or open_link, args=(job_id,),
              help="Open this result large: Animate, Download, Use these settings, Copy link, tags and lineage.")


def _rest(job: Job, key_prefix: str, *, full_size: bool) -> None:
    """The actions after Star: Animate, Full size, Download, Use these settings, Copy link."""
    from ui.large_view import link_to

    if _decodes(job):  # a damaged picture is no video's source
        animate_button(job, key=f"{key_prefix}:animate:{job.id}")
    if full_size:
        full_size_button(job.id, key=f"{key_prefix}:full:{job.id}")
    result_download(job, key=f"{key_prefix}:download:{job.id}")
    use_settings_button(job, key=f"{key_prefix}:reuse:{job.id}")
    copy_link_button(link_to(job.id))


def result_actions(job: Job, key_prefix: str, *, starred: bool, person: str, compact: bool = False,
                   full_size: bool = True) -> None:
    """The one row of actions under a finished result: Star, Animate, Full size, Download, Use these settings,
    Copy link, each with its words (Animate for an image only, Download for a saved result only).

    ``compact`` (a batch cell, a Gallery tile): Star and Full size, the others in a "More" menu built only while it
    is open, so a narrow cell keeps one short row. ``full_size=False`` where the result is already shown large.
    Widget keys start with ``key_prefix``; ``person`` is a ``rivya.people.star_owner`` value.
    """
    with st.container(horizontal=True, gap="small", vertical_alignment="center", key=f"{key_prefix}:actions:{job.id}"):
        star_button(job.id, starred, person, key=f"{key_prefix}:star:{job.id}")
        if not compact:
            _rest(job, key_prefix, full_size=full_size)
            return
        if full_size:
            full_size_button(job.id, key=f"{key_prefix}:full:{job.id}")
        more = st.popover("More", icon=":material/more_horiz:", key=f"{key_prefix}:more:{job.id}", on_change="rerun",
                          help="Animate, Download, Use these settings, Copy link")
        if more.open:
            with more:
                _rest(job, key_prefix, full_size=False)
