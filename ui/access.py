"""Who may use the app: the optional shared password, and a person's own API key."""

from __future__ import annotations

import streamlit as st

from rivya import RivyaClient
from rivya.access import PasswordGate
from rivya.errors import RivyaError
from rivya.messages import explain
from rivya.studio import Studio
from rivya.tasklog import SHARED_OWNER
from ui.services import get_studio
from ui.text import md_escape


@st.cache_resource
def _gate(password: str) -> PasswordGate:
    return PasswordGate(password)


def _try_password() -> None:
    gate = _gate(get_studio().settings.app_password or "")
    attempt = st.session_state.pop("access:password", "")
    if gate.check(attempt):
        st.session_state["access:ok"] = True
    else:
        st.session_state["access:error"] = True


def password_gate() -> bool:
    """True when the page may render: no password is set, or this session gave it."""
    if not get_studio().settings.app_password or st.session_state.get("access:ok"):
        return True
    st.title("Imagine Studio", anchor=False)
    with st.form("access:form", border=True, width=420):
        st.text_input("Team password", type="password", key="access:password")
        st.form_submit_button("Enter", type="primary", on_click=_try_password)
    if st.session_state.pop("access:error", False):
        st.error("That password is not right. Each wrong try makes the next one wait a little longer.")
    return False


def key_owner() -> str:
    """Whose key this session uses: its personal one if given and still held, else the shared one."""
    owner = st.session_state.get("key_owner", SHARED_OWNER)
    if owner != SHARED_OWNER:
        try:
            get_studio().jobs.client_for(owner)
        except KeyError:
            st.session_state.pop("key_owner", None)
            st.session_state["key:error"] = "The server restarted and no longer holds your key. Paste it again."
            return SHARED_OWNER
    return owner


def _use_personal_key() -> None:
    studio = get_studio()
    key = st.session_state.get("key:input", "").strip()
    st.session_state["key:input"] = ""  # never draw the key back into the page
    if not key:
        return
    try:
        with RivyaClient(key, studio.client.base_url, max_retries=1) as probe:
            probe.get_credits()
    except RivyaError as exc:
        words = explain(exc)
        st.session_state["key:error"] = f"{words.title} {words.action}"
        return
    st.session_state["key_owner"] = studio.jobs.register_key(key)
    st.session_state.pop("key:error", None)


def _forget_personal_key() -> None:
    owner = st.session_state.pop("key_owner", None)
    if owner:
        get_studio().jobs.release_key(owner)
        get_studio().forget_balance(owner)


def key_sidebar(studio: Studio) -> None:
    """The sidebar box where a person may use their own key, for this browser session only."""
    with st.sidebar:
        if studio.sandbox is not None:
            st.caption("Demo mode: jobs run on the local sandbox.")
            return
        if key_owner() != SHARED_OWNER:
            st.success("Using your own API key in this browser tab.", icon=":material/key:")
            st.button("Forget my key", on_click=_forget_personal_key, key="key:forget", icon=":material/key_off:")
        else:
            with st.expander("Use my own API key"):
                st.text_input(
                    "Your Rivya API key", type="password", key="key:input", placeholder="rvya_sk_…",
                    help="Used for this browser tab only, kept in the server's memory, never saved or shown.",
                )
                st.button("Use for this tab", on_click=_use_personal_key, key="key:use")
        error = st.session_state.get("key:error")
        if error:
            st.error(md_escape(error))
