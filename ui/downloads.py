"""Download buttons whose files carry their recipe, built only when clicked.

``st.download_button`` runs a callable ``data`` on click, in a thread of its own (Streamlit 1.67),
so neither a page run nor a rerun of the button reads a result or builds a ZIP.
"""

from __future__ import annotations

import mimetypes
import tempfile
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from rivya.constants import MAX_ZIP_BYTES
from rivya.gallery import result_file
from rivya.media import saved_media
from rivya.recipes import ZipTooLarge, check_zip, download_name, recipe, with_recipe, write_zip
from rivya.tasklog import Job
from ui.services import current_studio

_SPOOL_BYTES = 16 * 2**20  # a ZIP smaller than this is built in memory, a larger one on disk


# The builders run in a thread outside the script run: they get the media folder from the page, not from Streamlit.


def _file_with_recipe(job: Job, path_text: str, media_dir: Path) -> Callable[[], bytes]:
    def build() -> bytes:
        # Checked again on click: the file may have been removed since the page ran.
        path = saved_media(path_text, media_dir)
        if path is None:
            raise FileNotFoundError("the saved result is gone")
        return with_recipe(path, recipe(job))

    return build


def download_button(job: Job, *, key: str) -> None:
    """"Download" for the job's saved result, with its recipe inside and a name from its prompt; nothing if none is saved."""
    media_dir = current_studio().jobs.media_dir
    path = result_file(job, media_dir)
    if path is None:
        return
    st.download_button(
        "Download",
        data=_file_with_recipe(job, str(path), media_dir),
        file_name=download_name(job, path.suffix),
        mime=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )


def _zip_of(jobs: list[Job], media_dir: Path, max_bytes: int) -> Callable[[], bytes]:
    def build() -> bytes:
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            write_zip(jobs, media_dir, spool, max_bytes=max_bytes)
            spool.seek(0)
            return spool.read()

    return build


def zip_download(jobs: list[Job], *, key: str, max_bytes: int = MAX_ZIP_BYTES) -> None:
    """"Download ZIP" of the selected results (files with their recipes, and ``recipes.json``).

    The size is checked from the files' sizes on every run, so an oversized selection is refused
    in words beside a disabled button instead of failing silently after the click.
    """
    media_dir = current_studio().jobs.media_dir
    try:
        total = check_zip(jobs, media_dir, max_bytes=max_bytes)
    except ZipTooLarge as exc:
        st.download_button("Download ZIP", data=b"", key=key, icon=":material/folder_zip:", disabled=True)
        st.caption(str(exc))
        return
    st.download_button(
        "Download ZIP",
        data=_zip_of(list(jobs), media_dir, max_bytes),
        file_name=f"imagine-studio-{len(jobs)}-results.zip",
        mime="application/zip",
        key=key,
        icon=":material/folder_zip:",
        on_click="ignore",
        disabled=not jobs,
        help=f"{len(jobs)} selected · about {max(1, round(total / 2**20)):,} MB" if jobs else "Select results first.",
    )
