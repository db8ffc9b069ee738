"""The one ``Studio`` per server process, and per-session identity."""

from __future__ import annotations

import uuid
from typing import Any

import streamlit as st

from rivya.config import Settings, load_settings
from rivya.studio import Studio

PAGE_FOR_CATEGORY = {"image": "pages/image.py", "video": "pages/video.py"}


def _secrets() -> dict[str, Any]:
    """``st.secrets`` as a dict; an absent secrets file simply means no secrets."""
    try:
        return dict(st.secrets)
    except Exception:
        return {}


@st.cache_resource(show_spinner="Starting Imagine Studio…")
def _open_studio(settings: Settings) -> Studio:
    return Studio.open(settings)


def get_studio() -> Studio:
    """The shared backend, started once per process (per distinct configuration)."""
    return _open_studio(load_settings(_secrets()))


def session_id() -> str:
    """A random id for this browser session, recorded with each job it submits."""
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = uuid.uuid4().hex[:16]
    return st.session_state["session_id"]


def demo_banner(studio: Studio) -> None:
    if studio.sandbox is not None:
        st.info(
            "**Demo mode.** No API key is configured, so jobs run on a local sandbox: results are "
            "placeholders made on this computer and no real credits are spent. To use Rivya, set "
            "`RIVYA_API_KEY` in the environment or in `.streamlit/secrets.toml` and restart the app.",
            icon=":material/science:",
        )


def ensure_navigation() -> None:
    """Make a deep link opened right after server start show the app's frame and navigation.

    Until some session has run ``st.navigation``, Streamlit serves a folder named ``pages/``
    in its legacy mode: the page script runs alone, the sidebar lists file names. Leaving
    that mode and rerunning once routes the same URL through ``app.py``. The flag is not a
    public API, so if it moves the page simply renders in legacy mode as before.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
