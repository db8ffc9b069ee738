"""Parts of a page that follow the job log: redrawn every few seconds, re-read only when the log changed.

The log keeps a one-row change counter (``TaskLog.signature``) that moves with every row added, updated or removed.
A live part reads it on each refresh (one cheap query) and reads its rows again only when it moved, so an idle tab
costs one counter read per refresh, and a job's new state shows within one refresh of the log recording it.

Use ``live_section`` for a block of a page (Home's "Recent results"; History and Gallery can use it too), and
``read_on_change`` inside a fragment of one's own (the job panel's live part).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st

from rivya.tasklog import TaskLog
from ui.outage import outage_guard
from ui.session import session

T = TypeVar("T")

# Seconds between two refreshes of a live section: a job's new state shows at most this long after the log records it
# (the promise is 5 s; the follower records a finished job as soon as Rivya reports it).
LIVE_SECONDS = 3.0


def read_on_change(log: TaskLog, key: str, read: Callable[[], T], *, inputs: Hashable = None) -> T:
    """``read()``, or what it returned for this tab under ``key`` while the log's change counter has not moved
    and ``inputs`` (whatever else ``read`` depends on, e.g. the ids it follows) are the same.

    The counter is read first: a change that lands while ``read()`` runs moves it past the value kept, so the next
    call reads again (a kept value is never older than its counter). One value is kept per ``key``.
    """
    signature = (log.signature(), inputs)
    kept = session().live_reads.get(key)
    if kept is not None and kept[0] == signature:
        return kept[1]
    value = read()
    session().live_reads[key] = (signature, value)
    return value


def live_section(draw: Callable[[], None], *, every: float = LIVE_SECONDS) -> None:
    """Draw ``draw()`` now, and again every ``every`` seconds without a page run (a fragment).

    ``draw`` reads what it shows through ``read_on_change``, so a refresh that finds the log unchanged re-reads
    nothing and re-sends the same elements (Streamlit's front end keeps them as they are). A refresh while the log
    cannot be reached turns the page to its outage notice instead of a traceback.
    """
    st.fragment(outage_guard()(draw), run_every=every)()
