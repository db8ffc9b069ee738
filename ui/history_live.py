"""History follows the log: a look every LIVE_SECONDS at its change counter, and a page run only when what the page
shows changed (``rivya.ledger``'s stamps), so a job's new state shows without a reload and a poll redraws nothing."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from rivya.studio import Studio
from ui.outage import outage_guard

# Seconds between two looks at the log's change counter while History is open: a job's new state shows within this
# (plus one page run) of the log recording it.
LIVE_SECONDS = 2.0
_SHOWN = "history:shown"

@dataclass
class Shown:
    """What this tab's History shows, as stamps of the log (``LedgerView.rollup_stamp`` and ``rows_stamp``).

    ``signature`` is the log's change counter when the stamps were last known to match the log; ``rows`` is None
    when the log changed while the table was read (the table may then be stale, so the next look redraws).
    """

    signature: tuple[int, int, int]
    rollup: tuple
    ids: tuple[int, ...] = ()
    rows: tuple | None = ()


def start_live(studio: Studio) -> None:
    """At the top of a whole run, before anything reads the log: stamp what the figures, counts and charts show.

    Taken first, so a change that lands while the page is read makes the stamp older than the page, never newer:
    the next look then redraws once rather than missing it.
    """
    st.session_state[_SHOWN] = Shown(studio.log.signature(), studio.ledger.rollup_stamp())


def stamp_rows(studio: Studio, ids: tuple[int, ...], before: tuple[int, int, int]) -> None:
    """Stamp the table's rows as just read; ``before`` is the change counter read before them."""
    shown: Shown | None = st.session_state.get(_SHOWN)
    if shown is None:
        return
    rows = studio.ledger.rows_stamp(ids)
    shown.ids, shown.rows = ids, rows if studio.log.signature() == before else None


@st.fragment(run_every=LIVE_SECONDS)
@outage_guard()
def follow_log(studio: Studio) -> None:
    """Every LIVE_SECONDS: one read of the log's change counter; when it moved, the two stamps; when what the page
    shows changed (a job's status, cost or result, a new job), the whole page runs again, without a reload.

    A poll of a running job moves the counter but neither stamp, so it costs two small reads and no redraw.
    """
    shown: Shown | None = st.session_state.get(_SHOWN)
    if shown is None:
        return
    signature = studio.log.signature()
    if shown.rows is not None and signature == shown.signature:
        return
    if (shown.rows is not None and studio.ledger.rollup_stamp() == shown.rollup
            and studio.ledger.rows_stamp(shown.ids) == shown.rows):
        shown.signature = signature
        return
    st.rerun()
