"""A page of Gallery tiles as one element: pictures, words and each tile's Star, Full size and Pick, drawn in the
browser from a list (``tiles.js``, ``tiles.css``), with no Streamlit widget per tile.

Why: fifteen rows of Streamlit widgets (``st.pills`` or buttons) cost the browser about 0.2 s of every grid drawn
(a search, Load more, a visit), whatever they look like; one element holding the page costs what a picture grid
does. A press comes back as a list of ``{"id", "tool", "on"}``, each press made on the page since it was drawn
(``tiles.js`` says why), every entry checked here before anything acts on it: the browser is not trusted to send a
tile it was shown or a tool that exists.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import streamlit as st

STAR, FULL, PICK = "star", "full", "pick"
LABELS = {STAR: "Star", FULL: "Full size", PICK: "Pick", "group": "Star, Full size or Pick"}
_HERE = Path(__file__).parent
_TILES = st.components.v2.component("studio.gallery_tiles", js=(_HERE / "tiles.js").read_text(),
                                    css=(_HERE / "tiles.css").read_text(), isolate_styles=False)


@dataclass(frozen=True)
class Tile:
    """One result as its tile shows it. ``src`` is None where there is no preview (the box stays, empty)."""

    id: int
    src: str | None
    video: bool
    meta: str  # one line: what it is and when it was made, or why there is no preview
    prompt: str  # two lines are shown; the whole prompt is ``alt`` (the picture's description) and in Full size
    alt: str
    starred: bool
    picked: bool


Press = tuple[int, str, bool]  # (job id, STAR / FULL / PICK, on): what a press asks for


def _checked(entry: object, shown: set[int]) -> Press | None:
    """One reported press, if it names a tile drawn on this page, a tool and on or off; else None."""
    if not isinstance(entry, dict):
        return None
    job_id, tool, on = entry.get("id"), entry.get("tool"), entry.get("on")
    if type(job_id) is int and job_id in shown and tool in (STAR, FULL, PICK) and type(on) is bool:
        return job_id, tool, on
    return None


def tile_page(tiles: list[Tile], *, key: str, on_press: Callable[[list[Press]], None]) -> None:
    """Draw ``tiles`` as one element keyed ``key``; ``on_press`` runs (as a callback, before the rerun) with the valid
    presses reported, in the order they were made. Each draw is new to the browser, even with the same tiles: it
    then takes the tiles' state from this list again (a Pick, then Clear, sends the same list twice)."""
    shown = {t.id for t in tiles}

    def pressed() -> None:
        reported = (st.session_state.get(key) or {}).get("press")
        presses = [p for e in reported if (p := _checked(e, shown))] if isinstance(reported, list) else []
        if presses:
            on_press(presses)

    _TILES(key=key, data={"tiles": [asdict(t) for t in tiles], "labels": LABELS, "drawn": secrets.token_hex(8)},
           on_press_change=pressed, width="stretch")
