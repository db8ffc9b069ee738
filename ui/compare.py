"""Compare: 2-4 finished results side by side at one scale, with what differs between them highlighted."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from rivya import stars
from rivya.compare import prompt_diff, related, same_scale_widths, settings_diff
from rivya.constants import MAX_COMPARED, MIN_COMPARED
from rivya.gallery import result_file
from rivya.media import result_image_size
from rivya.people import star_owner
from rivya.sniffing import is_video
from ui.access import current_person
from ui.actions import full_size_button, star_button
from ui.large_view import close_large_view, open_link
from ui.live import hand_over
from ui.pictures import show_result_image
from ui.services import current_studio
from ui.session import session
from ui.text import md_escape

# The large dialog's content is about 1,150 CSS pixels wide; the widest result fills its column.
DIALOG_PX = 1150
NOT_APPLICABLE = "—"  # shown for a setting the result's model does not have


def _prompt_markdown(base: str, prompt: str) -> str:
    """``prompt`` with the words it adds to ``base`` highlighted and the ones it drops struck through."""
    shown = []
    for op, words in prompt_diff(base, prompt):
        text = md_escape(words)
        shown.append(text if op == "equal" else f":green-background[{text}]" if op == "insert" else f":red[~~{text}~~]")
    return " ".join(shown)


def _size(path: Path | None) -> tuple[int, int]:
    """The result's pixel size (read from the file's header), or (0, 0) when it cannot be read."""
    if path is None or is_video(path):
        return (0, 0)
    return result_image_size(path) or (0, 0)


def start_compare(job_ids: list[int], page: str) -> None:
    """Compare's callback (Gallery, History): the page's runs show these results side by side until the dialog is
    closed, so a live redraw of the page keeps it open. Pressed in a part of the page, that part's own rerun hands
    over to a page run (``hand_over``)."""
    close_large_view()  # one dialog at a time: a large view named by the address gives way
    session().comparing = (page, job_ids)
    session().opening = True


def draw_compare(page: str) -> None:
    """In ``page``'s run: the results Compare was pressed on there, while its dialog is open (a Compare left open on
    another page, by the browser's Back, is not carried here)."""
    if session().comparing is not None and session().comparing[0] == page:
        open_compare(session().comparing[1])


def _closed() -> None:
    """The dialog was dismissed: the page stops drawing it again on its runs."""
    session().comparing = None


def _open(job_id: int) -> None:
    """Full size on a compared result: its large view replaces Compare."""
    session().comparing = None
    open_link(job_id)


@st.dialog("Compare", width="large", on_dismiss=_closed)
def open_compare(job_ids: list[int]) -> None:
    """The chosen results side by side: each at one scale, with its prompt and settings, differences marked."""
    hand_over()  # Open was pressed on one of them: the page run shows its large view instead
    jobs = sorted(current_studio().log.many(job_ids), key=lambda j: job_ids.index(j.id))
    if not MIN_COMPARED <= len(jobs) <= MAX_COMPARED:
        st.warning(f"Pick {MIN_COMPARED} to {MAX_COMPARED} results to compare.")
        return
    rows = settings_diff(jobs)
    differing = [r.label for r in rows if r.differs]
    diffed = [index > 0 and related(jobs[0].prompt, job.prompt) for index, job in enumerate(jobs)]
    st.caption(("Different: " + ", ".join(differing) if differing else "Same model and settings")
               + (" · prompt words added compared with the first are highlighted, words dropped are struck through."
                  if any(diffed) else ""))
    media_dir = current_studio().jobs.media_dir
    paths = [result_file(job, media_dir) for job in jobs]
    sizes = [_size(path) for path in paths]
    widths = same_scale_widths(sizes, DIALOG_PX // len(jobs))
    person = star_owner(current_person())
    starred = stars.starred(current_studio().log, job_ids, person)
    columns = st.columns(len(jobs))
    for index, (job, column, path, width, size) in enumerate(zip(jobs, columns, paths, widths, sizes, strict=True)):
        with column:
            if path is None:
                st.warning("Not saved here.", icon=":material/broken_image:")
            elif is_video(path):
                st.video(str(path))
            else:
                show_result_image(path, width=width if size[0] else "stretch")
            st.markdown(f"**#{job.id}** · {job.charged_credits:,} credits")
            # The first two of the row every result has (ui.actions.result_actions); the rest are in the large view.
            with st.container(horizontal=True, gap="small"):
                star_button(job.id, job.id in starred, person, key=f"compare:star:{job.id}")
                full_size_button(job.id, key=f"compare:open:{job.id}", on_click=_open)
            # Words marked only against a related first prompt: between unrelated ones every word would be struck.
            st.markdown(_prompt_markdown(jobs[0].prompt, job.prompt) if diffed[index] else md_escape(job.prompt))
            for row in rows:
                value = row.values[index]
                line = f"{md_escape(row.label)}: {NOT_APPLICABLE if value is None else md_escape(value)}"
                # A setting this model does not have ("—") is not a difference, so it is never marked.
                st.markdown(f":orange-background[**{line}**]" if row.differs and value is not None else f":gray[{line}]")
