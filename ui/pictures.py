"""A saved result image on any surface: the picture when it decodes, a placeholder when it does not.

A file saved under a result's name may still not be an image Streamlit can draw (damaged, cut short, a format
Pillow cannot read, or far too many pixels): ``st.image`` would raise and take the whole page or dialog with it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from rivya.media import result_image_size

UNREADABLE = "This result's file cannot be shown: it is not an image this app can read."


def unreadable_placeholder() -> None:
    """The words shown in place of a saved result that does not decode."""
    st.warning(UNREADABLE, icon=":material/broken_image:")


def show_result_image(path: Path, *, width: int | str = "stretch") -> bool:
    """The saved image at ``path`` (a file ``saved_media`` returned), or the placeholder; True if it was drawn."""
    if result_image_size(path) is None:
        unreadable_placeholder()
        return False
    st.image(str(path), width=width)
    return True
