"""The one ``Studio`` per server process, and per-session identity."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError
from streamlit.runtime.scriptrunner import get_script_run_ctx

from rivya.config import Settings, load_settings
from rivya.errors import StorageError
from rivya.studio import Studio, open_shared
from ui.session import session
from ui.text import md_escape

# The script Streamlit runs for every page view: ``app.py`` serves it, tests run it with ``AppTest``.
MAIN_SCRIPT = Path(__file__).resolve().parent.parent / "studio_app.py"
# The tab's icon, shipped with the app and served by it: a ``:material/...:`` page icon makes the browser
# fetch an SVG from a font CDN on every page load (and fail offline). The Material icons elsewhere are
# drawn with the font Streamlit serves itself.
APP_ICON = MAIN_SCRIPT.parent / "static" / "icon.png"
PAGE_FOR_CATEGORY = {"image": "pages/image.py", "video": "pages/video.py"}

log = logging.getLogger("imagine_studio")
# Streamlit's words for a secrets file it could not read, once each in the server log (every page run reads secrets).
_logged_secret_errors: set[str] = set()


def read_secrets() -> dict[str, Any]:
    """``st.secrets`` as a dict; no secrets file means no secrets.

    A file that exists but cannot be read raises ``ValueError``: falling back to "no secrets"
    would quietly switch the app to demo mode while people believe they are generating for real.
    Streamlit's message names the file's absolute path on the server; the page shows this error
    to any visitor before any gate, so the path goes to the server log and the page says only
    "the secrets file" (and, for a TOML mistake, its line and column: tomllib names no values).
    """
    try:
        return st.secrets.to_dict()
    except StreamlitSecretNotFoundError as exc:
        if exc.error_id == "no-secrets-found":
            return {}
        if str(exc) not in _logged_secret_errors:
            _logged_secret_errors.add(str(exc))
            log.error("the secrets file could not be read: %s", exc)
        cause = exc.__cause__
        where = f" ({cause})" if isinstance(cause, tomllib.TOMLDecodeError) else ""
        raise ValueError(f"the secrets file could not be read{where}; the server log names the file") from None


def current_settings() -> Settings:
    return load_settings(read_secrets())


def get_studio() -> Studio:
    """The shared backend, started once per process (per distinct configuration).

    It lives in ``rivya.studio``'s registry, not in ``st.cache_resource``: Streamlit lets
    any browser clear its caches, which would reset the password back-off and start a second
    follower.
    """
    studio = open_shared(current_settings())
    studio.log.run_key = current_run  # the log's change counter is read once per page run, shared by its parts
    return studio


def current_run() -> object | None:
    """The page run this thread is in, or None: an object Streamlit makes anew at the start of every run, whole or of
    fragments only (``ScriptRunContext.reset``), and keeps until the next. An assumption about Streamlit's internals
    (1.67); without the attribute every counter read asks the log again, as before."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return getattr(ctx, "parallel_coordinator", None)


def studio_or_stop() -> Studio:
    """The backend, or a plain start-up error (naming what is wrong) and nothing else on the page."""
    try:
        studio = get_studio()
    except (ValueError, OSError, StorageError) as exc:
        st.error(
            f"Imagine Studio cannot start: {md_escape(str(exc))}. Check the settings in "
            "`.streamlit/secrets.toml` or the environment, then restart the app.",
            icon=":material/settings:",
        )
        st.stop()
    session().studio = studio
    return studio


def current_studio() -> Studio:
    """The backend this session's run opened with ``studio_or_stop``, without reading secrets and environment again.

    For what cannot be handed the studio as an argument: callbacks and fragments (they run before or without
    the page's script) and small accessors used everywhere (``key_owner``, ``current_person``). A callback
    runs before the run's ``studio_or_stop``, so it gets the studio the previous run opened: the same object
    unless the configuration changed, which takes a restart (the start-up error says so).
    """
    studio = session().studio
    if studio is None:  # a block run without the app's script (AppTest on one function)
        studio = session().studio = get_studio()
    return studio


def session_id() -> str:
    """A random id for this browser session, recorded with each job it submits."""
    return session().id


def demo_banner(studio: Studio) -> None:
    """Say that jobs run on the sandbox and which setting changes that. Home alone calls it: repeated on every
    page it was noise (issue 20), and the "Connected to: Sandbox" figure on Home stays the reminder."""
    if studio.sandbox is not None:
        st.info(
            "**Demo mode.** No API key is configured, so jobs run on a local sandbox: results are "
            "placeholders made on this computer, no real credits are spent, and the sandbox's credits "
            "start afresh whenever the app restarts. To use Rivya, set `RIVYA_API_KEY` in the "
            "environment or in `.streamlit/secrets.toml` and restart the app.",
            icon=":material/science:",
        )


def leave_legacy_pages_mode() -> bool:
    """Take Streamlit out of its legacy mode for a folder named ``pages/``; True if it was in it.

    Until some session has run ``st.navigation``, Streamlit serves ``pages/`` in that mode: a deep
    link runs the page script alone and the sidebar lists file names. Called once at server start
    (``app.py``), before any session exists, the first visitor's page runs once through the main
    script instead of twice. The flag is not a public API:
    ``tests/test_security.py::test_the_legacy_pages_flag_is_where_we_expect`` fails if Streamlit moves it.
    """
    from streamlit.runtime.pages_manager import PagesManager

    was_on = bool(PagesManager.uses_pages_directory)
    PagesManager.uses_pages_directory = False
    return was_on


def ensure_navigation() -> None:
    """Make a deep link opened right after server start show the app's frame and navigation.

    If the server did not leave the legacy mode at start (``leave_legacy_pages_mode``), leave it now
    and rerun once, which routes the same URL through the main script. The page's own password
    check does not depend on this.
    """
    if leave_legacy_pages_mode():
        st.rerun()
