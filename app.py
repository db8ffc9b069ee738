"""Imagine Studio's server entry: ``streamlit run app.py``.

Streamlit finds ``app`` below and serves ``studio_app.py`` (password, navigation, pages)
through it. The lifespan opens the backend when the server starts, so jobs left running
before a restart are followed again before anyone opens a page; it closes it at shutdown.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st

from rivya.errors import StorageError
from rivya.hook_route import hook_route
from rivya.studio import close_shared, open_shared
from ui.services import MAIN_SCRIPT, current_settings, leave_legacy_pages_mode

log = logging.getLogger("imagine_studio")

# What the pages import on their first run (the page scripts themselves are not modules), and
# pyarrow, which Streamlit imports on the first table. Loaded with the server so they are frozen below.
PAGE_MODULES = ("ui.generate", "ui.history", "ui.notices", "pyarrow")


def freeze_long_lived() -> None:
    """Load the pages' modules, then move everything alive now out of the garbage collector's sight.

    A full collection walks every tracked object: after the app's imports (about 100k objects) one
    took ~90 ms of CPU, more than a whole panel refresh, whether Streamlit forces it after each
    script run (``runner.postScriptGC``, switched off in ``.streamlit/config.toml``) or Python's
    own collector runs it. Objects alive at start-up (modules, classes, the backend) live as long
    as the process, so ``gc.freeze()`` leaves them out of every later collection (then ~0 ms);
    objects made afterwards (each run's garbage, the sessions) are still collected. Called once,
    before any session exists: freezing later would pin sessions' objects, whose reference cycles
    would then never be freed.
    """
    for name in PAGE_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the page shows its own error; start-up goes on
            log.warning("could not preload %s (%s)", name, type(exc).__name__)
    gc.collect()  # garbage is freed, not frozen
    gc.freeze()


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    """Open the process's backend (log, follower, sandbox, password gate) with the server."""
    leave_legacy_pages_mode()  # before any session exists: a deep link opened first runs its page once
    try:
        await asyncio.to_thread(lambda: open_shared(current_settings()))
    except (ValueError, OSError, StorageError) as exc:
        # The pages show the same words; the server still starts so a browser can see them.
        log.error("Imagine Studio cannot start: %s", exc)
    await asyncio.to_thread(freeze_long_lived)
    try:
        yield
    finally:
        await asyncio.to_thread(close_shared)


app = st.App(MAIN_SCRIPT, lifespan=lifespan, routes=[hook_route(lambda: open_shared(current_settings()))])
