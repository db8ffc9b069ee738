"""Imagine Studio's server entry: ``streamlit run app.py``.

Streamlit finds ``app`` below and serves ``studio_app.py`` (password, navigation, pages)
through it. The lifespan opens the backend when the server starts, so jobs left running
before a restart are followed again before anyone opens a page; it closes it at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st

from rivya.studio import close_shared, open_shared
from ui.services import MAIN_SCRIPT, current_settings

log = logging.getLogger("imagine_studio")


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    """Open the process's backend (log, follower, sandbox, password gate) with the server."""
    try:
        await asyncio.to_thread(lambda: open_shared(current_settings()))
    except (ValueError, OSError) as exc:
        # The pages show the same words; the server still starts so a browser can see them.
        log.error("Imagine Studio cannot start: %s", exc)
    try:
        yield
    finally:
        await asyncio.to_thread(close_shared)


app = st.App(MAIN_SCRIPT, lifespan=lifespan)
