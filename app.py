"""Imagine Studio's server entry: ``streamlit run app.py``.

Streamlit finds ``app`` below and serves ``studio_app.py`` (password, navigation, pages)
through it. The lifespan opens the backend when the server starts, so jobs left running
before a restart are followed again before anyone opens a page; it closes it at shutdown.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.routing import Route
from streamlit import config as st_config
from streamlit.runtime import Runtime
from streamlit.runtime.caching.ttl_cache import TTLCache
from streamlit.runtime.session_manager import SessionInfo

from rivya.errors import StorageError
from rivya.hook_route import hook_route
from rivya.live_route import live_route
from rivya.page_route import page_routes
from rivya.studio import Studio, close_shared, open_shared, shared_studios
from rivya.tile_route import tile_route
from ui.page_list import PAGES
from ui.services import MAIN_SCRIPT, current_settings, leave_legacy_pages_mode

log = logging.getLogger("imagine_studio")

# What the pages import on their first run (the page scripts themselves are not modules), and
# pyarrow, which Streamlit imports on the first table. Loaded with the server so they are frozen below.
PAGE_MODULES = ("ui.generate", "ui.history", "ui.notices", "pyarrow")
SWEEP_SECONDS = 30  # how often closed sessions past their reconnect window are shut down (at most)


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


class ClosingSessionStore(TTLCache):
    """Streamlit's store of closed tabs' sessions (kept for a reconnect), shutting down each session it drops.

    Streamlit keeps a closed tab's session for ``server.disconnectedSessionTTL`` (120 s) in case the tab
    reconnects, in a cache that then simply forgets it: ``AppSession.shutdown()`` is never called, so what the
    runtime keeps per session id outlives it for the life of the process: its media files (every image and
    thumbnail the page showed, in memory), its tables' data, its uploads. The server's memory grew by every
    closed session (issue 21: 184 -> 266 MB after five rounds of 50). A session resumed by a reconnect is
    taken out with ``delete`` and stays alive; one that expires or is evicted for room is shut down here.
    """

    def expire(self, at_time: float | None = None) -> list[tuple[str, SessionInfo]]:
        dropped = super().expire(at_time)
        for _, info in dropped:
            shut_down(info)
        return dropped

    def _evict_lru(self, reason: str) -> SessionInfo:  # type: ignore[override]
        info = super()._evict_lru(reason)  # type: ignore[arg-type]
        shut_down(info)
        return info


def shut_down(info: SessionInfo) -> None:
    """End a dropped session as Streamlit ends a live one (its files, tables and caches released, its live pass
    dropped)."""
    try:
        for studio in shared_studios():
            studio.passes.revoke(info.session.id)
        info.session.shutdown()
    except Exception as exc:  # one session's trouble must not stop the sweep or a new session's start
        log.warning("a closed session could not be shut down (%s)", type(exc).__name__)


def closing_session_store() -> ClosingSessionStore:
    """Put ``ClosingSessionStore`` in place of the runtime's store (same size and TTL, same entries); returns it.

    None of this is a public API: ``tests/test_closed_sessions.py`` fails if Streamlit moves it.
    """
    manager = Runtime.instance()._session_mgr
    storage = manager._session_storage
    old = storage._cache
    if isinstance(old, ClosingSessionStore):
        return old
    new = ClosingSessionStore(maxsize=old.maxsize, ttl=old.ttl)
    with manager._storage_lock:
        for key, info in old.lru_items():
            new[key] = info
        storage._cache = new
    return new


async def sweep_closed_sessions() -> None:
    """Shut down expired sessions on time: the store only looks at expiry when a tab connects or closes."""
    try:
        store = closing_session_store()
    except AttributeError as exc:  # Streamlit moved its session store: say so, and serve on
        log.error("closed sessions will not be shut down: Streamlit's session store moved (%s)", exc)
        return
    manager = Runtime.instance()._session_mgr
    while True:
        await asyncio.sleep(min(store.ttl, SWEEP_SECONDS))
        with manager._storage_lock:
            dropped = store.expire()
        if dropped:
            gc.collect()  # a session's objects hold reference cycles; Streamlit's own collection after runs is off
            give_back_memory()


def _glibc() -> ctypes.CDLL | None:
    """The C library's allocator controls, where it is glibc (Linux); None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


GLIBC = _glibc()
M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def fewer_malloc_arenas() -> None:
    """Two malloc arenas, not glibc's default of eight per core.

    Every script run happens on a thread of its own; glibc gives threads their own arenas, and memory freed
    in one is kept there for reuse by it: the process's size then tracks the busiest moment of each arena,
    not what is alive. Two arenas keep threads sharing (and reusing) the same freed memory. Called before
    any session's thread starts.
    """
    if GLIBC is not None:
        GLIBC.mallopt(M_ARENA_MAX, 2)


def give_back_memory() -> None:
    """Return freed heap pages to the system (after closed sessions were shut down)."""
    if GLIBC is not None:
        GLIBC.malloc_trim(0)


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    """Open the process's backend (log, follower, sandbox, password gate) with the server."""
    fewer_malloc_arenas()
    leave_legacy_pages_mode()  # before any session exists: a deep link opened first runs its page once
    try:
        await asyncio.to_thread(lambda: open_shared(current_settings()))
    except (ValueError, OSError, StorageError) as exc:
        # The pages show the same words; the server still starts so a browser can see them.
        log.error("Imagine Studio cannot start: %s", exc)
    await asyncio.to_thread(freeze_long_lived)
    sweeper = asyncio.create_task(sweep_closed_sessions())
    try:
        yield
    finally:
        sweeper.cancel()
        await asyncio.to_thread(close_shared)


def session_alive(session_id: str) -> bool:
    """Whether the server still holds this browser session (connected, or closed but kept for a reconnect)."""
    try:
        return Runtime.instance()._session_mgr.get_session_info(session_id) is not None
    except (AttributeError, RuntimeError):  # no runtime, or Streamlit moved it: no session is known, access closes
        return False


def studio() -> Studio:
    return open_shared(current_settings())


def route_prefix() -> str:
    """Where the app's own routes live: ``""``, or ``"/<root>"`` under Streamlit's ``server.baseUrlPath`` (read when
    ``app.py`` is imported; Streamlit loads its config before)."""
    root = str(st_config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{root}" if root else ""


def page_addresses() -> list[Route]:
    """Each page's address answered with Streamlit's page plus where the app's root is (``rivya/page_route.py``).

    The addresses are the pages' files' names (``ui/page_list.py``), as ``st.Page`` names them; the default page
    (Home) is ``/``, which needs nothing (Streamlit knows no ``/home``).
    """
    pages = [entry.address for entry in PAGES[1:]]
    static = Path(st.__file__).parent / "static" / "index.html"
    return page_routes(static, pages, route_prefix())


app = st.App(MAIN_SCRIPT, lifespan=lifespan,
             routes=[hook_route(studio), live_route(studio, session_alive),
                     tile_route(route_prefix()), *page_addresses()])
