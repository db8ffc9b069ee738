"""This browser session's own state in one typed object, kept under one ``st.session_state`` key.

Widget values stay in ``st.session_state`` itself (Streamlit keeps them there), under names made by
``ui.form.widget_key``; everything else a session remembers between runs is a field here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from rivya.studio import Studio

SESSION = "session"  # the one st.session_state key holding ``Session``


@dataclass
class Session:
    """What one browser session remembers between page runs (not widget values)."""

    # The backend this session's latest run opened (``ui.services.studio_or_stop``); not in the repr: its
    # settings hold the API key, and nothing of a session's state may ever print it.
    studio: Studio | None = field(default=None, repr=False)


def session() -> Session:
    """This session's state, made on first use."""
    state = st.session_state.get(SESSION)
    if state is None:
        state = st.session_state[SESSION] = Session()
    return state
