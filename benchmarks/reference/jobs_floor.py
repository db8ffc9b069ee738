"""Reference app (f): what the Image and Video pages show with four running jobs, drawn the plain Streamlit way
(issue 21's floor for them; (b) shows far less). Streamlit and the standard library only: no Studio code.

The sidebar holds what every Studio page's does: six pages, the sound toggle and the key popover. Each page: the
title and its model; the form (the prompt library, closed; the prompt and its count; the reference image; the
model's settings; How many; Generate with its cost; the balance) beside the results: four running jobs, each a
bordered card with its status and time, a progress bar and its "Prompt and settings", redrawn by a fragment on a
timer as the Studio's live part is.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from benchmarks.reference.studio_frame import run_frame

RUNNING = 4
SETTINGS: dict[str, list[tuple[str, list[str]]]] = {  # each page's settings, as radios
    "Image": [("Aspect ratio", ["1:1", "2:3", "3:2", "16:9", "9:16"])],
    "Video": [("Mode", ["Fun", "Normal", "Spicy"]), ("Resolution", ["480p", "720p"])],
}


@st.fragment(run_every=4)  # the Studio's panel refreshes its running cards every 4 s
def running(page: str) -> None:
    """The running jobs' cards, redrawn on a timer (their time and progress move)."""
    for n in range(RUNNING, 0, -1):
        with st.container(border=True):
            with st.container(horizontal=True):
                st.markdown(f"**Generating…** · Grok Imagine {page} · #{n}", width="stretch")
                st.caption("12 s · sent 12:00", width="content")
            st.progress(0.3, text="About 20 s left")
            with st.expander("Prompt and settings"):
                st.write(f"a running {page.lower()} of a paper boat {n}")


def studio_page(title: str) -> Callable[[], None]:
    def draw() -> None:
        st.title(title, anchor=False)
        st.caption(f"Model: Grok Imagine {title}")
        form, results = st.columns(2, gap="large")
        with form:
            with st.expander("Prompt library", icon=":material/library_books:"):
                st.selectbox("Preset", ["A lighthouse at dawn"])
            prompt = st.text_area("Prompt", placeholder=f"Describe the {title.lower()} you want")
            st.caption(f"{len(prompt)} / 5,000 characters")
            st.file_uploader("Reference image (optional)", type=["png", "jpg", "webp"], help="One image.")
            for label, options in SETTINGS[title]:
                st.radio(label, options, horizontal=True, help=f"The {label.lower()}.")
            if title == "Video":
                st.slider("Duration", 6, 15, 6, format="%d s", help="Seconds.")
            else:
                st.toggle("Quality mode", help="Slower, finer.")
            st.segmented_control("How many", [1, 2, 3, 4], default=1, help="Takes of one prompt.")
            st.button(f"Generate · {4 if title == 'Image' else 10} credits", type="primary",
                      icon=":material/image:")
            st.caption("Credit balance 992")
        with results:
            running(title)

    draw.__name__ = title.lower()
    return draw


def run() -> None:
    run_frame("Reference (f)", {title: (title.lower(), studio_page(title)) for title in SETTINGS})
