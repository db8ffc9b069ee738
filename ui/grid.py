"""One Explore grid drawn as a table: columns labelled by the last axis's values, rows by the one before, a section
per value of any axis before those; each cell the usual card of its job, filling in as jobs finish."""

from __future__ import annotations

import itertools
from urllib.parse import urljoin

import streamlit as st

from rivya.catalog import display_name
from rivya.explore import Cell
from rivya.grids import GridRecord, get_grid
from rivya.people import star_owner
from rivya.presets import PresetError, save_preset
from rivya.tasklog import Job
from ui.access import current_person
from ui.downloads import zip_download
from ui.jobs_view import CardFacts, CardMode, job_card, read_facts
from ui.live import hand_over, live_fragment
from ui.outage import outage_guard
from ui.services import current_studio
from ui.session import session
from ui.text import local_time, md_escape

GRID_PARAM = "grid"  # ``explore?grid=<id>`` opens a kept grid
EXPLORE_PATH = "explore"
REFRESH_SECONDS = 2.0  # a grid with jobs on their way looks again this often while the page cannot be told of changes
# Where Streamlit stacks columns (a phone), a header row or a row label stands alone above the cells it named, so it
# is hidden and each cell's own caption names its values instead; on a wider screen that caption repeats the headers.
PHONE_STYLE = ("<style>@media (max-width: 640px) { [class*='st-key-explore-head'] { display: none; } }"
               "@media (min-width: 641px) { [class*='st-key-explore-cell-'] { display: none; } }</style>")


def grid_link(grid_id: str) -> str:
    """The address that opens this grid again (the Explore page, on this server)."""
    tail = f"{EXPLORE_PATH}?{GRID_PARAM}={grid_id}"
    here = st.context.url  # None outside a browser session (AppTest): then the link from the server's root
    return urljoin(here.split("?", 1)[0], tail) if here else f"/{tail}"


def grid_view(grid_id: str, *, key_prefix: str) -> None:
    """The grid ``grid_id``, redrawn when the log changes while any cell's job is on its way."""
    record = get_grid(current_studio().log, grid_id)
    if record is None:
        st.info("This grid is not kept here (the link may be mistyped, or from another studio).", icon=":material/grid_off:")
        return
    running = any(job is None or not job.is_done or job.awaits_media for job in record.jobs)
    _heading(record)

    def cells() -> None:
        hand_over()  # Full size or Use these settings on a cell: the page run opens the large view or the page
        fresh = get_grid(current_studio().log, grid_id) or record
        if running and all(job is not None and job.is_done and not job.awaits_media for job in fresh.jobs):
            st.rerun()  # every cell settled: one page run draws the finished grid and stops the refreshes
        _table(fresh, key_prefix)

    st.html(PHONE_STYLE)
    with st.container(key="explore-grid"):
        if running:  # woken when the log changes (ui/live.py); a refresh during an outage shows the outage notice
            live_fragment(cells, name="grid", fallback=REFRESH_SECONDS)()
        else:
            st.fragment(outage_guard()(cells))()
    _grid_actions(record, key_prefix)


def _heading(record: GridRecord) -> None:
    plan = record.plan
    who = f" by {md_escape(record.person_name)}" if record.person_name else ""
    st.markdown(f"**{plan.summary()}** · {md_escape(display_name(plan.model))}  \n"
                f":small[:gray[sent {local_time(record.created_at)}{who}]]")
    st.caption(md_escape(plan.prompt[:300]))


def _table(record: GridRecord, key_prefix: str) -> None:
    """Sections (axes before the last two), then a header row of column labels and one row per row label."""
    plan = record.plan
    axes = plan.axes
    columns, rows, sections = axes[-1], (axes[-2] if len(axes) > 1 else None), axes[:-2]
    by_place = {cell.at: (cell, job) for cell, job in zip(plan.cells, record.jobs, strict=True)}
    person = star_owner(current_person())
    facts = read_facts(current_studio().log, [j for j in record.jobs if j is not None and j.is_done], person)
    for section in itertools.product(*(range(len(a.values)) for a in sections)):
        if sections:
            st.markdown("#### " + " · ".join(f"{md_escape(a.name)}: {md_escape(a.labels[i])}"
                                             for a, i in zip(sections, section, strict=True)))
        # A row's label heads its row rather than standing beside it: a label column took a share of every row, and
        # a cell as narrow as that (~190 px at 1400) stacked its Star, Full size and More one under another.
        widths = [1] * len(columns.values)
        name = "-".join(map(str, section))
        header = st.container(key=f"explore-head-{name}").columns(widths, vertical_alignment="bottom")
        for place, label in zip(header, columns.labels, strict=True):
            place.markdown(f"**{md_escape(label)}**")
        for r in range(len(rows.values)) if rows else [None]:
            if rows is not None and r is not None:
                st.container(key=f"explore-head-{name}-{r}").markdown(f"**{md_escape(rows.labels[r])}**")
            line = st.columns(widths)
            for c, place in enumerate(line):
                at = (*section, *((r,) if r is not None else ()), c)
                cell, job = by_place[at]
                with place:
                    _cell(cell, plan.cell_label(cell), job, key_prefix, facts, person)


def _cell(cell: Cell, label: str, job: Job | None, key_prefix: str, facts: CardFacts, person: str) -> None:
    """One cell: its labels in words (on a phone only, where they are the only labels left), then its job's card."""
    st.container(key=f"explore-cell-{'-'.join(map(str, cell.at))}").caption(md_escape(label))
    if job is None:
        st.warning("This cell's job is not in the log.", icon=":material/help:")
        return
    mode = CardMode.TAKE if job.is_done else CardMode.LIVE_TAKE
    job_card(job, mode, key_prefix=key_prefix, facts=facts if job.is_done else None, person=person)


def _grid_actions(record: GridRecord, key_prefix: str) -> None:
    """Download ZIP of the finished cells (with their recipes), the grid's link, and Save a cell as preset."""
    done = [job for job in record.jobs if job is not None and job.media_paths]
    row = st.container(horizontal=True, vertical_alignment="center")
    with row:
        zip_download(done, key=f"{key_prefix}:zip:{record.id}")
    with st.expander("Link to this grid"):
        st.code(grid_link(record.id), language=None)
    _save_preset(record, key_prefix)


def _save_preset(record: GridRecord, key_prefix: str) -> None:
    """Save one cell's prompt and settings as a preset of the team's (the Image or Video page's Presets)."""
    plan = record.plan
    labels = [plan.cell_label(cell) for cell in plan.cells]
    form = f"{key_prefix}:preset:{record.id}"
    with st.expander("Save a cell as preset"):
        with st.form(key=form, border=False):
            st.selectbox("Cell", range(len(labels)), format_func=lambda i: labels[i], key=f"{form}:cell")
            st.text_input("Preset name", placeholder="e.g. Kettle, blue, wide", key=f"{form}:name")
            # A callback: the press is acted on whatever run follows it (ui/live.py), and said once by the next.
            st.form_submit_button("Save as preset", icon=":material/bookmark_add:", on_click=_save_cell,
                                  args=(record, form))
        said = session().grid_saved
        if said is not None and said[0] == form:
            session().grid_saved = None
            if said[1]:
                st.success(said[2], icon=":material/bookmark:")
            else:
                st.error(said[2], icon=":material/edit:")


def _save_cell(record: GridRecord, form: str) -> None:
    """Save as preset's callback: the chosen cell's prompt and settings under the name typed."""
    plan = record.plan
    cell = plan.cells[st.session_state[f"{form}:cell"]]
    try:
        preset = save_preset(current_studio().log, st.session_state[f"{form}:name"], plan.model, cell.prompt,
                             cell.params, current_person())
    except PresetError as exc:
        session().grid_saved = (form, False, str(exc))
    else:
        session().grid_saved = (form, True, f"Saved “{preset.name}”. It is listed under Presets on the "
                                            f"{display_name(plan.model)} form.")
