"""This browser session's own state in one typed object, kept under one ``st.session_state`` key.

Widget values stay in ``st.session_state`` itself (Streamlit keeps them there), under names made by
``ui.form.widget_key``; everything else a session remembers between runs is a field here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

from rivya.tasklog import SHARED_OWNER

if TYPE_CHECKING:
    from rivya.gallery import GalleryFilter
    from rivya.jobs import Reference
    from rivya.presses import Intent
    from rivya.studio import Studio
    from ui.notices import Watch

SESSION = "session"  # the one st.session_state key holding ``Session``


@dataclass
class ModelState:
    """One model's page (Image or Video): its presses, what they said, and the jobs its panel follows."""

    followed: list[int] = field(default_factory=list)  # job ids shown in the panel, newest first
    waiting: list[str] = field(default_factory=list)  # idempotency keys of presses made while the log was down
    click: Intent | None = None  # the last Generate press (a double click's second half reuses it)
    pressed: bool = False  # a press the next page run acts on, once
    notice: tuple[str, str] | None = None  # (kind, text) about the last press, until the next press
    library_message: tuple[str, str] | None = None  # (kind, text) about the last prompt-library action, shown once
    preset: int | None = None  # the preset applied or saved last; the next job records it
    filled: str | None = None  # where the form's settings came from ("Settings from job #12 …"), until the next press
    scroll: str | None = None  # what the next page run brings into view, once: "form" or "results"
    # The uploaded reference: (file id, prepared reference, problem, preview bytes), made once per upload.
    reference: tuple[str, Reference | None, str | None, bytes | None] | None = None
    # The image being animated (Video page): job_id, owner it was uploaded for, reference, problem, preview.
    animate: dict[str, Any] | None = None


@dataclass
class RetryState:
    """Try again on the cards of one panel (``key_prefix``): the last press and what each press said."""

    click: Intent | None = None
    press: tuple[tuple[int, ...], str] | None = None  # (job ids, model) the next page run acts on, once
    said: dict[int, tuple[str, Any]] = field(default_factory=dict)  # per failed job: (notice kind, text or new id)


@dataclass
class Session:
    """What one browser session remembers between page runs (not widget values)."""

    # The backend this session's latest run opened (``ui.services.studio_or_stop``); not in the repr: its
    # settings hold the API key, and nothing of a session's state may ever print it.
    studio: Studio | None = field(default=None, repr=False)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])  # recorded with each job this session submits
    # -- access (ui/access.py)
    password_ok: bool = False
    password_refused: bool = False  # the last try was wrong: said once
    provider_down: bool = False  # the identity provider did not answer the last sign-in press: said once
    claimed_for: str | None = None  # the person whose former ids' rows were moved to their id
    key_owner: str = SHARED_OWNER  # whose key pays: the team's, or this tab's own (its owner id, never the key)
    key_error: str | None = None
    # -- moving between pages
    goto_page: str | None = None  # a callback names the page to open; ``page_access`` opens it on the next run
    animate_from: int | None = None  # the image job Animate handed to the Video page
    # -- the job log's state as the last page run found it (ui/outage.py: UNREACHABLE, READ_ONLY or None)
    log_down: str | None = None
    # -- finished-job notices (ui/notices.py)
    watch: Watch | None = None
    page: str = ""  # the open page's url_path
    news: list[Any] = field(default_factory=list)  # jobs the watcher found ended, told by the next whole run
    ask_permission: bool = False  # ask the browser for notifications on the next run
    live_pass: str | None = None  # this session's pass to the live feed (ui/live.py); never in a log or a URL
    # -- the large view (ui/large_view.py)
    shown: int | None = None  # the result the open dialog shows (lineage links move it along the chain)
    linked: int | None = None  # the id the address named when the dialog was last opened from it
    tag_error: str | None = None  # what was wrong with a tag just typed: said once
    opening: bool = False  # Open was pressed in a fragment or a dialog: its own rerun hands over to a page run
    rechecked: bool = False  # History's Check now was pressed: its page run says so
    # set by Compare (Gallery, History): its page and the ids shown side by side, until the dialog is closed
    comparing: tuple[str, list[int]] | None = None
    # -- the Gallery page
    gallery_pages: int = 1  # how many pages "Load more" has shown
    gallery_picked: list[int] = field(default_factory=list)  # ids picked for Compare, in the order they were picked
    gallery_filter: GalleryFilter | None = None  # the filters the grid last ran with: the large view's previous / next
    # (log change counter, ids shown) as the grid last drew them: the live watcher reruns the page when they differ
    gallery_drawn: tuple[tuple[int, int, int], tuple[int, ...]] | None = None
    # -- Explore's grids (ui/grid.py)
    grid_saved: tuple[str, bool, str] | None = None  # an Explore grid's Save as preset: (its form, saved, words), said once
    # -- widget values kept while their page is not shown (ui/form.py ``remembered``)
    kept: dict[str, Any] = field(default_factory=dict)
    # -- what live parts of pages read last (ui/live.py): key -> ((the log's change counter, inputs), what was read)
    live_reads: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # -- per model, and per card panel
    models: dict[str, ModelState] = field(default_factory=dict)
    retries: dict[str, RetryState] = field(default_factory=dict)

    def model(self, model: str) -> ModelState:
        """The state of one model's page, made on first use."""
        return self.models.setdefault(model, ModelState())

    def retry(self, key_prefix: str) -> RetryState:
        """The Try again state of one card panel, made on first use."""
        return self.retries.setdefault(key_prefix, RetryState())


def session() -> Session:
    """This session's state, made on first use."""
    state = st.session_state.get(SESSION)
    if state is None:
        state = st.session_state[SESSION] = Session()
    return state
