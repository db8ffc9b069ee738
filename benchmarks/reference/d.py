"""Reference app (d): the least a Streamlit picture grid can be, doing what the Gallery does (issue 21's floor for it).

Two pages in the sidebar's navigation; on "Pictures": a title, a text input filtering ``PICTURES`` captioned
pictures, a count, the first ``PAGE`` matches as ``st.image`` tiles as wide as the Gallery's at 1400 pixels, and
"Load more" in a fragment that draws the next ``PAGE``. As in ``benchmarks.gallery``'s seeded log, whose results
are links to a few renders, the pictures are a few distinct 384 x 288 JPEGs (the Gallery's tile thumbnail size),
so each is fetched once, as the Gallery's are.
"""

from __future__ import annotations

import io

import streamlit as st
from PIL import Image, ImageDraw

PAGE = 15  # rivya.constants.GALLERY_PAGE_SIZE; not imported: a reference app is Streamlit and Pillow only
PICTURES = 240
TILE_PX = 164  # a Gallery tile's picture at 1400 x 1000 beside the sidebar
SUBJECTS = ("misty lighthouse", "neon fox", "golden owl", "quiet harbor", "tiny robot", "snowy forest", "teapot",
            "city street")  # one in eight matches a search for "misty": 30, two pages
DISTINCT = 5


@st.cache_data
def pictures() -> list[bytes]:
    """``DISTINCT`` JPEGs of a tile thumbnail's size, made once per process."""
    made = []
    for n in range(DISTINCT):
        image = Image.new("RGB", (384, 288), (60 + n * 35, 70, 190 - n * 25))
        ImageDraw.Draw(image).text((20, 130), f"picture {n}", fill=(255, 255, 255))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=82)
        made.append(out.getvalue())
    return made


def captions() -> list[str]:
    return [f"a {SUBJECTS[n % len(SUBJECTS)]} number {n}" for n in range(PICTURES)]


def tiles(shown: list[int]) -> None:
    """A wrapping row of pictures, each with its words: the grid."""
    with st.container(horizontal=True, gap="small"):
        for n in shown:
            st.image(pictures()[n % DISTINCT], caption=captions()[n], width=TILE_PX)


def _more() -> None:
    st.session_state.pages = st.session_state.get("pages", 1) + 1


@st.fragment
def later(matching: list[int]) -> None:
    """The pages after the first and "Load more": a press reruns only this."""
    pages = st.session_state.get("pages", 1)
    tiles(matching[PAGE:pages * PAGE])
    if len(matching) > pages * PAGE:
        st.button("Load more", on_click=_more)


def gallery() -> None:
    st.title("Pictures", anchor=False)
    words = st.text_input("Search", on_change=lambda: st.session_state.update(pages=1))
    matching = [n for n, c in enumerate(captions()) if words.lower() in c]
    st.caption(f"{min(PAGE, len(matching))} of {len(matching)} pictures")
    tiles(matching[:PAGE])
    later(matching)


def home() -> None:
    st.title("Home", anchor=False)
    st.write("Pictures are on the other page.")


st.set_page_config(page_title="Reference (d)")
current = st.navigation([st.Page(gallery, title="Pictures", url_path="pictures", default=True),
                         st.Page(home, title="Home", url_path="home")], position="sidebar")
st.sidebar.caption("Reference app")
current.run()
