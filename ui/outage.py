"""While the job log cannot be reached (PostgreSQL stopped, the SQLite file gone) or cannot be written (its file,
folder or disk read-only: reads still work, so only a refused write tells, ``TaskLog.unwritable``).

Every page keeps its title and navigation, says once in plain words what the outage means for a press, turns
Generate off, and reruns itself as soon as the log answers (and takes writes) again. Two narrow places catch ``StorageError``:
``page_frame`` around the main script's page part, and ``outage_guard`` around a fragment, whose reruns run outside
the page's frame. Only ``StorageError`` is caught: Streamlit's own control flow (``st.rerun``, ``st.stop``,
``st.switch_page``) raises other exceptions, which pass through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from rivya.errors import StorageError
from ui.services import current_studio
from ui.session import session

log = logging.getLogger("imagine_studio")

# Seconds between two looks at the log while it cannot be reached: the page comes back at most this long after it does.
POLL_SECONDS = 3.0
# What the last page run found wrong with the log (``Session.log_down``): pages draw themselves for the outage.
UNREACHABLE = "unreachable"
READ_ONLY = "read_only"
NOTICE = (
    "**The job log cannot be reached right now.** Every job is written down there before it is sent, so **Generate "
    "is off until the log is back:** a press now would send nothing and charge nothing. Jobs already sent keep going "
    "at Rivya and show up here once it is back, so don't press Generate again for them. This page tries again by "
    "itself every few seconds."
)
READ_ONLY_NOTICE = (
    "**The job log can be read but not written right now** (its file, folder or disk refuses writes, e.g. the disk "
    "turned read-only). The app writes every job down before sending it, so **Generate is off until the log can be "
    "written again:** a press now would send nothing and charge nothing. Jobs that were already sent keep going at "
    "Rivya, and their results are written down here once it can, so don't press Generate again for them. This page "
    "tries again by itself every few seconds."
)
NOTICES = {UNREACHABLE: NOTICE, READ_ONLY: READ_ONLY_NOTICE}


def log_down() -> bool:
    """True while this session's last page run could not reach the job log, or found that it cannot be written."""
    return bool(session().log_down)


def log_unreachable() -> bool:
    """True while the log cannot be read at all (not merely written): a page that only shows what it holds says so
    in one line instead of drawing half of itself."""
    return session().log_down == UNREACHABLE


def _outage() -> str | None:
    """What is wrong with the log now: one read of its one-row change counter (the cheapest question that needs the log
    to answer), then the remembered state of its last write, which costs nothing unless a write was refused; only then
    a probe (a no-op UPDATE rolled back, at most every few seconds per process) asks whether it takes writes again."""
    job_log = current_studio().log
    try:
        job_log.read_signature()  # a real look, whatever this run read before; the run's parts then share it
    except StorageError as exc:
        log.warning("the job log cannot be reached: %s", exc)
        return UNREACHABLE
    if job_log.unwritable is not None and not job_log.check_writable():
        return READ_ONLY
    return None


def _refused_kind() -> str:
    """The outage a ``StorageError`` met while drawing stands for: a refused write, or a log that did not answer."""
    return READ_ONLY if current_studio().log.unwritable is not None else UNREACHABLE


def _poll() -> None:
    """The outage's fragment: once the log is back (or wrong in another way), the whole page runs again."""
    if _outage() != session().log_down:
        st.rerun(scope="app")


def _show(kind: str) -> None:
    st.warning(NOTICES[kind], icon=":material/edit_off:" if kind == READ_ONLY else ":material/cloud_off:")
    st.fragment(_poll, run_every=POLL_SECONDS)()


@contextmanager
def page_frame(*, probe: bool) -> Iterator[None]:
    """Run the page inside: the frame (title, navigation) stays, a ``StorageError`` becomes the plain notice.

    ``probe`` (once access is granted) asks the log first, so a page drawn during an outage knows it from its
    first line (``log_down``) and shows the notice at the top. A page that found the log only while drawing
    is run again once, and then draws itself for the outage.
    """
    was_down = log_down()
    down = _outage() if probe else None
    session().log_down = down
    if down:
        _show(down)
    try:
        yield
    except StorageError as exc:
        log.warning("a page stopped early: %s", exc)
        session().log_down = down or _refused_kind()
        if not down and not was_down:
            st.rerun()
        if not down:
            _show(session().log_down)
    else:
        if probe and not down and current_studio().log.unwritable is not None:
            st.rerun()  # a write this run made was refused (a press: its "nothing was sent" stays): say so, Generate off


@contextmanager
def outage_guard() -> Iterator[None]:
    """Around a fragment's body (usable as a decorator): a ``StorageError`` stops the fragment quietly.

    If the page did not know of the outage yet, the whole page runs again, so it shows the notice and turns
    Generate off; otherwise the notice is already on the page. A log found unwritable meanwhile (the follower could
    not write a result down, another tab's press was refused) does the same: reads alone would never tell.
    """
    try:
        yield
    except StorageError as exc:
        if not log_down():
            log.warning("the job log cannot be reached: %s", exc)
            session().log_down = _refused_kind()
            st.rerun(scope="app")
    else:
        if not log_down() and current_studio().log.unwritable is not None:
            session().log_down = READ_ONLY
            st.rerun(scope="app")
