"""The generate pages' two small browser-side helpers: bring a part of the page into view, and let Generate wake up
while a first prompt is typed. Streamlit has neither; everything else on these pages stays Streamlit-native."""

from __future__ import annotations

import json
import uuid

import streamlit as st

# Streamlit's header sits over the top of the scrolling area: a target scrolled to the top keeps this much room.
HEADER_ROOM_PX = 72
# A pause in typing after which a prompt typed into an empty box is committed (Streamlit's own ``live`` pause).
TYPING_PAUSE_MS = 250
# How long a Ctrl+Enter pressed while Generate waited for the prompt may wait for Generate to turn on.
PRESS_WAIT_MS = 5000


def _run(body: str) -> None:
    """Run ``body`` in the page, in a scope of its own (the page's scripts share one global scope). A fresh comment
    makes each call a new element, so the script runs each time."""
    st.html(f"<script>/* {uuid.uuid4().hex} */(() => {{{body}}})();</script>", unsafe_allow_javascript=True,
            width="content")


def _css_key(key: str) -> str:
    """The class Streamlit gives an element with ``key`` (``st-key-`` and the key, ``:`` as ``-``)."""
    return "st-key-" + key.replace(":", "-")


def scroll_into_view(key: str) -> None:
    """Scroll the element with ``key`` to the top of the view, unless its top is already in the upper part of it."""
    selector = json.dumps("." + _css_key(key))
    _run(f"""
      const deadline = Date.now() + 3000;
      const go = () => {{
        const el = document.querySelector({selector});
        if (!el) {{ if (Date.now() < deadline) setTimeout(go, 50); return; }}
        const top = el.getBoundingClientRect().top;
        if (top >= {HEADER_ROOM_PX} && top < window.innerHeight / 2) return;
        el.style.scrollMarginTop = "{HEADER_ROOM_PX}px";
        el.scrollIntoView({{block: "start"}});
      }};
      setTimeout(go, 50);
    """)


def scroll_to_top() -> None:
    """Scroll the page back to its top (its title, then the form), wherever the person had scrolled to."""
    _run("""
      const main = document.querySelector('[data-testid="stMain"]');
      (main && main.scrollHeight > main.clientHeight ? main : document.scrollingElement).scrollTo({top: 0});
    """)


def commit_prompt_while_typing(prompt_key: str, waiting_key: str, button_key: str) -> None:
    """While Generate is off only because of the prompt (element ``waiting_key`` is on the page), commit the prompt
    box after a pause in typing, so Generate turns on without leaving the box.

    Streamlit sends a text area's value only when it loses the focus or on Ctrl+Enter, and a disabled button ignores
    both a click and its shortcut: without this, the first press after typing a first prompt would only send the
    text. A Ctrl+Enter pressed before Generate turned on presses it once it has (the person's own press, once).
    Installed once per browser page; it reads the page each time, so a later run's elements are the ones it sees.
    """
    box = json.dumps(f".{_css_key(prompt_key)} textarea")
    waiting = json.dumps("." + _css_key(waiting_key))
    button = json.dumps(f".{_css_key(button_key)} button")
    flag = json.dumps(f"rivyaCommit:{prompt_key}")
    _run(f"""
      if (!window[{flag}]) {{
        window[{flag}] = true;
        let timer = null;
        const commit = (el) => {{
          const [start, end] = [el.selectionStart, el.selectionEnd];
          el.blur(); el.focus(); el.setSelectionRange(start, end);
        }};
        document.addEventListener("input", (event) => {{
          const el = event.target;
          if (!el.matches || !el.matches({box}) || !document.querySelector({waiting})) return;
          clearTimeout(timer);
          if (el.value.trim()) timer = setTimeout(() => {{ if (document.activeElement === el) commit(el); }},
                                                   {TYPING_PAUSE_MS});
        }}, true);
        document.addEventListener("keydown", (event) => {{
          const el = event.target;
          if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
          if (!el.matches || !el.matches({box}) || !el.value.trim() || !document.querySelector({waiting})) return;
          clearTimeout(timer);
          const deadline = Date.now() + {PRESS_WAIT_MS};
          const press = () => {{
            const ready = document.querySelector({waiting}) === null && document.querySelector({button});
            if (ready && !ready.disabled) {{ ready.click(); return; }}
            if (Date.now() < deadline) setTimeout(press, 50);
          }};
          setTimeout(press, 50);
        }}, true);
      }}
    """)
