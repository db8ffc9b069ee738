"""Who may use the app: sign-in (Streamlit's ``st.login``) or the shared password, and a person's own API key."""

from __future__ import annotations

import logging

import requests
import streamlit as st

from rivya import RivyaClient, people
from rivya.errors import RivyaError, StorageError
from rivya.messages import explain
from rivya.people import Person
from rivya.studio import Studio
from rivya.tasklog import SHARED_OWNER
from ui.form import widget_key
from ui.services import current_studio, ensure_navigation, session_id, studio_or_stop
from ui.session import session
from ui.text import md_escape

log = logging.getLogger("imagine_studio")

# In the page's address while this tab uses its own key. A reload starts a new session that
# has lost the key; the mark survives it, so the new session asks which key pays before any
# job is sent instead of quietly billing the team's wallet.
OWN_KEY_MARK = "own_key"
PASSWORD = widget_key("access", "password")  # the password box
KEY_INPUT = widget_key("key", "input")  # the personal key box: emptied by its callback, never drawn back


def page_access() -> Studio:
    """The first call of every page script: the backend, or the page stops here.

    Whichever way the script was started (the app's navigation, Streamlit's legacy mode for
    a ``pages/`` folder, ``AppTest`` on the page alone), nothing of the page is drawn until
    the settings load and the password, if one is set, has been given.
    """
    ensure_navigation()
    studio = studio_or_stop()
    if not sign_in_gate() or not password_gate():
        st.stop()
    key_sidebar(studio)
    if personal_key_choice_pending():
        _key_choice()
    target, session().goto_page = session().goto_page, None
    if target:  # a button (Use these settings, Animate) asked for another page in its callback
        st.switch_page(target)
    return studio


def _try_password() -> None:
    attempt = st.session_state.pop(PASSWORD, "")
    if current_studio().gate.check(attempt, session=session_id(), address=st.context.ip_address):
        session().password_ok = True
    else:
        session().password_refused = True


def auth_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section: people sign in with ``st.login``."""
    from ui.services import read_secrets

    return bool(read_secrets().get("auth"))


def signed_in_person() -> Person | None:
    """Whoever the provider signed in (``st.user``), let in by the allow-list or not; None when nobody is named.

    Fail-closed: a ``st.user`` without its ``is_logged_in`` flag counts as nobody signed in.
    """
    if not auth_configured() or not st.user.get("is_logged_in"):
        return None
    return Person.from_claims(st.user.to_dict())


def current_person() -> Person | None:
    """The signed-in person the allow-list lets in, or None (sign-in not configured, nobody signed in, or refused)."""
    person = signed_in_person()
    settings = current_studio().settings
    allowed = people.admitted(person, emails=settings.allowed_emails, domains=settings.allowed_email_domains,
                              anyone=settings.allow_any_account)
    return person if allowed else None


def is_admin() -> bool:
    """True when the signed-in person is one of ``ADMINS`` (nobody is an admin without sign-in)."""
    return people.is_admin(current_person(), current_studio().settings.admins)


def signed_in() -> bool:
    """True when sign-in is not configured, or a person the provider named and the allow-list lets in has signed in."""
    return not auth_configured() or current_person() is not None


def _claim_legacy_rows(person: Person) -> None:
    """Once per session: move rows kept under this person's former ids (email, bare subject) to their id.

    A log that cannot be written now only delays it to the next page run; it never keeps the person out.
    """
    if session().claimed_for == person.id:
        return
    try:
        moved = current_studio().log.claim_legacy_person(person.id, person.legacy_ids)
    except StorageError as exc:
        log.warning("could not move a person's earlier rows to their id (%s)", exc)
        return
    if moved:
        log.info("moved %d rows kept under a person's former id to their id", moved)
    session().claimed_for = person.id


def has_access() -> bool:
    """True when this session may see pages: signed in (if configured) and past the password (if set)."""
    return signed_in() and password_given()


def password_given() -> bool:
    """True when no password is set, or this session gave it."""
    return not current_studio().settings.app_password or session().password_ok


def _provider_answers() -> bool:
    """True when the identity provider's metadata can be read now.

    Streamlit's own login route answers a provider that is down with a bare "Authentication
    error" page; asking first lets the sign-in prompt say what is wrong in plain words.
    """
    from ui.services import read_secrets

    url = str(read_secrets().get("auth", {}).get("server_metadata_url") or "")
    try:
        response = requests.get(url, timeout=5)
        response.raise_for_status()
        response.json()
    except (requests.RequestException, ValueError) as exc:
        log.warning("sign-in provider did not answer (%s)", type(exc).__name__)
        return False
    return True


def _sign_in() -> None:
    if _provider_answers():
        st.login()
    else:
        session().provider_down = True


def sign_in_gate() -> bool:
    """True when the page may render; else draws only the sign-in prompt, or why this account may not come in.

    Fail-closed: while nobody is signed in (or the provider named nobody, or the allow-list does not
    list them), nothing else of the app is drawn, only plain words and Sign out; a provider that does
    not answer gets a plain message, never the page.
    """
    if not auth_configured():
        return True
    person = current_person()
    if person is not None:
        _claim_legacy_rows(person)
        return True
    st.title("Imagine Studio", anchor=False)
    with st.container(border=True, width=420):
        if st.user.get("is_logged_in"):
            named = signed_in_person()
            if named is None:  # signed in, but the provider's answer names no issuer or subject
                st.error("Your sign-in did not say who you are. Sign out and try another account.")
            elif named.email is None:
                st.error("Imagine Studio is open to its team only, and your sign-in did not include an email address "
                         "your provider has verified, so it cannot tell whether you belong. Sign out and sign in with "
                         "your team account.")
            else:
                st.error(f"Imagine Studio is open to its team only, and {md_escape(named.email)} is not on its list. "
                         "Sign out and sign in with your team account, or ask whoever runs the app to add you.")
            st.button("Sign out", on_click=st.logout, key="access:signout-refused")
            return False
        st.write("Sign in with your team account to use Imagine Studio.")
        st.button("Sign in", type="primary", on_click=_sign_in, key="access:signin", icon=":material/login:")
    if session().provider_down:
        session().provider_down = False
        st.error("The sign-in service is not answering. Try again in a minute; if it goes on, tell whoever runs the app.")
    return False


def person_sidebar() -> None:
    """The signed-in person's name and a Sign out button; the main script draws it at the top of the sidebar."""
    person = current_person()
    if person is None:
        return
    with st.sidebar.container(key="access-person"):
        st.caption(f"Signed in as **{md_escape(person.name)}**" + (" · admin" if is_admin() else ""))
        st.button("Sign out", on_click=st.logout, key="access:signout", icon=":material/logout:")


def password_gate() -> bool:
    """True when the page may render; else draws the password prompt."""
    if password_given():
        return True
    st.title("Imagine Studio", anchor=False)
    with st.form("access:form", border=True, width=420):
        st.text_input("Team password", type="password", key=PASSWORD)
        st.form_submit_button("Enter", type="primary", on_click=_try_password)
    if session().password_refused:
        session().password_refused = False
        st.error("That password is not right. Each wrong try makes the next one wait a little longer.")
    return False


def key_owner() -> str:
    """Whose key this session uses: its personal one if given and still held, else the shared one."""
    owner = session().key_owner
    if owner != SHARED_OWNER:
        try:
            current_studio().jobs.client_for(owner)
        except KeyError:
            session().key_owner = SHARED_OWNER
            session().key_error = "The server restarted and no longer holds your key. Paste it again."
            return SHARED_OWNER
    return owner


def personal_key_choice_pending() -> bool:
    """True when this tab used its own key before a reload and has not yet said which key pays now.

    While it is true, no job may be sent: the next one would bill the team's wallet without
    the person knowing.
    """
    if OWN_KEY_MARK not in st.query_params or current_studio().sandbox is not None:
        return False
    return key_owner() == SHARED_OWNER


def _use_personal_key() -> None:
    studio = current_studio()
    key = st.session_state.get(KEY_INPUT, "").strip()
    st.session_state[KEY_INPUT] = ""  # never draw the key back into the page
    if not key:
        return
    try:
        with RivyaClient(key, studio.client.base_url, max_retries=1) as probe:
            probe.get_credits()
    except RivyaError as exc:
        words = explain(exc)
        session().key_error = f"{words.title} {words.action}"
        return
    session().key_owner = studio.jobs.register_key(key)
    st.query_params[OWN_KEY_MARK] = "1"
    session().key_error = None


def _forget_personal_key() -> None:
    owner, session().key_owner = session().key_owner, SHARED_OWNER
    st.query_params.pop(OWN_KEY_MARK, None)
    if owner != SHARED_OWNER:
        current_studio().jobs.release_key(owner)
        current_studio().forget_balance(owner)


def _use_team_key() -> None:
    st.query_params.pop(OWN_KEY_MARK, None)
    session().key_error = None


def _key_input() -> None:
    st.text_input(
        "Your Rivya API key", type="password", key=KEY_INPUT, placeholder="rvya_sk_…",
        help="Used for this browser tab only, kept in the server's memory, never saved or shown.",
    )


def _key_error() -> None:
    error = session().key_error
    if error:
        st.error(md_escape(error))


def _key_choice() -> None:
    """Above the page: the tab lost its own key on reload; nothing is sent until the person chooses."""
    with st.container(border=True, key="key-choice"):
        st.warning(
            "**Which key pays?** This tab was using your own API key. The page was reloaded, so the "
            "server no longer links your key to it. Nothing will be sent until you choose: paste your "
            "key again, or use the team's key (jobs are then charged to the team's wallet).",
            icon=":material/key:",
        )
        _key_input()
        mine, team = st.columns(2)
        mine.button("Use my key again", on_click=_use_personal_key, key="key:use", type="primary")
        team.button("Use the team key", on_click=_use_team_key, key="key:team")
        _key_error()


def key_sidebar(studio: Studio) -> None:
    """The sidebar box where a person may use their own key, for this browser session only."""
    with st.sidebar:
        if studio.sandbox is not None:
            st.caption("Demo mode: jobs run on the local sandbox.")
            return
        if key_owner() != SHARED_OWNER:
            if st.query_params.get(OWN_KEY_MARK) != "1":
                st.query_params[OWN_KEY_MARK] = "1"  # moving to another page drops query parameters
            st.success("Using your own API key in this browser tab.", icon=":material/key:")
            st.button("Forget my key", on_click=_forget_personal_key, key="key:forget", icon=":material/key_off:")
        elif personal_key_choice_pending():
            st.caption("Choose which key pays at the top of the page.")
            return
        else:
            # A popover, not an expander: its box and button are built in the browser only once it is opened, where
            # a closed expander's are built on every page run of every page.
            with st.popover("Use my own API key", icon=":material/key:", width="stretch"):
                _key_input()
                st.button("Use for this tab", on_click=_use_personal_key, key="key:use")
        _key_error()
