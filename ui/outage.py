"""While the job log cannot be reached (PostgreSQL stopped, the SQLite file gone, its disk read-only).

Every page keeps its title and navigation, says once in plain words what the outage means for a press, turns
Generate off, and reruns itself as soon as the log answers again. Two narrow places catch ``StorageError``:
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
from ui.services import get_studio

log = logging.getLogger("imagine_studio")

# Seconds between two looks at the log while it cannot be reached: the page comes back at most this long after it does.
POLL_SECONDS = 3.0
# session_state key: the last page run found the log unreachable (pages draw themselves for the outage).
LOG_DOWN = "outage:log_down"
NOTICE = (
    "**The job log cannot be reached right now.** The app writes every job down in its job log before sending it, "
    "and that log is not answering. **Generate is off until it is back:** a press now would send nothing and charge "
    "nothing. Jobs that were already sent keep going at Rivya and show up here once the log is back, so don't press "
    "Generate again for them. This page tries again by itself every few seconds."
)


def log_down() -> bool:
    """True while this session's last page run could not reach the job log."""
    return bool(st.session_state.get(LOG_DOWN))


def _reachable() -> bool:
    """One read of the log's one-row change counter: the cheapest question that needs the log to answer."""
    try:
        get_studio().log.signature()
    except StorageError as exc:
        log.warning("the job log cannot be reached: %s", exc)
        return False
    return True


def _poll() -> None:
    """The outage's fragment: once the log answers, the whole page runs again and draws itself as usual."""
    if _reachable():
        st.rerun(scope="app")


def _show() -> None:
    st.warning(NOTICE, icon=":material/cloud_off:")
    st.fragment(_poll, run_every=POLL_SECONDS)()


@contextmanager
def page_frame(*, probe: bool) -> Iterator[None]:
    """Run the page inside: the frame (title, navigation) stays, a ``StorageError`` becomes the plain notice.

    ``probe`` (once access is granted) asks the log first, so a page drawn during an outage knows it from its
    first line (``log_down``) and shows the notice at the top. A page that found the log only while drawing
    is run again once, and then draws itself for the outage.
    """
    was_down = log_down()
    down = probe and not _reachable()
    st.session_state[LOG_DOWN] = down
    if down:
        _show()
    try:
        yield
    except StorageError as exc:
        log.warning("a page stopped early: %s", exc)
        st.session_state[LOG_DOWN] = True
        if not down and not was_down:
            st.rerun()
        if not down:
            _show()


@contextmanager
def outage_guard() -> Iterator[None]:
    """Around a fragment's body (usable as a decorator): a ``StorageError`` stops the fragment quietly.

    If the page did not know of the outage yet, the whole page runs again, so it shows the notice and turns
    Generate off; otherwise the notice is already on the page.
    """
    try:
        yield
    except StorageError as exc:
        if not log_down():
            log.warning("the job log cannot be reached: %s", exc)
            st.session_state[LOG_DOWN] = True
            st.rerun(scope="app")
