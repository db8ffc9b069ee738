"""History's live part: the page runs again when what it shows changed (a job's status, cost or result, a new job),
not when the log's counter merely moved (a poll of a running job). Woken by ``ui.live``'s mechanism."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from rivya.studio import Studio
from ui.live import follow

# History's fallback pace: a job's new state shows within this (plus one page run) of the log recording it.
HISTORY_SECONDS = 2.0
_SHOWN = "history:shown"


@dataclass
class Shown:
    """What this tab's History shows, as stamps of the log (``LedgerView.rollup_stamp`` and ``rows_stamp``).

    ``signature`` is the log's change counter when the stamps were last known to match the log; ``rows`` is read
    on the same snapshot of the log as the table it stamps.
    """

    signature: tuple[int, int, int]
    rollup: tuple
    ids: tuple[int, ...] = ()
    rows: tuple = ()


def start_history(studio: Studio) -> None:
    """At the top of History's whole run, before anything reads the log: stamp what the figures, counts and charts
    show. Taken first, so a change that lands while the page is read makes the stamp older than the page, never
    newer: the next look then redraws once rather than missing it."""
    st.session_state[_SHOWN] = Shown(studio.log.signature(), studio.ledger.rollup_stamp())


def stamp_rows(studio: Studio, ids: tuple[int, ...]) -> None:
    """Stamp History's table rows as just read: called inside the snapshot (``TaskLog.reading``) they were read on,
    so the stamp is of the rows shown, not of a change that landed after."""
    shown: Shown | None = st.session_state.get(_SHOWN)
    if shown is not None:
        shown.ids, shown.rows = ids, studio.ledger.rows_stamp(ids)


def history_changed(studio: Studio) -> bool:
    """One read of the counter; when it moved, the two stamps: True when what History shows changed (a job's
    status, cost or result, a new job). A poll of a running job moves the counter but neither stamp."""
    shown: Shown | None = st.session_state.get(_SHOWN)
    if shown is None:
        return False
    signature = studio.log.signature()
    if signature == shown.signature:
        return False
    if studio.ledger.rollup_stamp() == shown.rollup and studio.ledger.rows_stamp(shown.ids) == shown.rows:
        shown.signature = signature
        return False
    return True


def follow_history(studio: Studio) -> None:
    follow(lambda: history_changed(studio), name="history", fallback=HISTORY_SECONDS)
