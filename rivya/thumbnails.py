"""Thumbnails: one maker, four named sizes, so every small picture of a result or an upload is made the same way.

A size made from a saved result is kept as a file beside it (made once; a saved result never changes); the two
that are made from something already small, or from an upload that is not kept, are made in memory.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from . import constants
from .media import result_image_size, saved_media
from .sniffing import is_video

THUMBS_DIR = "thumbs"  # the tiles' folder, inside the media folder, so ``saved_media`` accepts a tile as it does a result
BACKGROUND = (240, 242, 246)  # Streamlit's light secondary background, around a letterboxed picture


@dataclass(frozen=True)
class Size:
    """One named thumbnail size: the box the picture fits in, its JPEG quality and, if kept, its file."""

    box: tuple[int, int]
    quality: int
    letterbox: bool = False  # the picture is centred on BACKGROUND filling the whole box, so a grid's rows line up
    # Where a kept thumbnail goes, relative to the result's folder ("{name}" is the result's file name); None: in memory.
    file: str | None = None


# Job cards and Home: several listed results, each inlined (a few KB).
CARD = Size((160, 160), 80, file="{name}.thumb.jpg")
# A Gallery tile: about 250 CSS pixels wide on a desktop and a whole row on a phone, the whole result in a 4:3 box.
TILE = Size((384, 288), 82, letterbox=True, file=THUMBS_DIR + "/{name}.jpg")
# A History table cell, made from the card: cells are 56 px tall, so 96 px is sharp on a high-density screen and a
# third of the card's bytes, which every rerun of the page sends again for each of its 100 rows.
CELL = Size((96, 96), 75)
# An attached reference, shown without re-sending the original (up to 10 MB) on every rerun.
PREVIEW = Size((320, 320), 85)


def _opened(source: Path | bytes) -> Image.Image | None:
    """The picture to shrink: a video's first frame or an image that may be decoded here; None if neither."""
    if isinstance(source, bytes):
        image = Image.open(io.BytesIO(source))
        if image.format != "JPEG" and image.width * image.height > constants.MAX_DECODED_PIXELS:
            return None  # only a JPEG decodes at a reduced scale; the reference check refuses such a file anyway
        return image
    if is_video(source):
        import av  # only videos need FFmpeg

        with av.open(str(source)) as container:
            return next(container.decode(video=0)).to_image()
    if result_image_size(source) is None:
        return None  # not an image that decodes, or too many pixels to decode here
    return Image.open(source)


def thumbnail_bytes(source: Path | bytes, size: Size) -> bytes | None:
    """``source`` shrunk into ``size``, as JPEG bytes; None if it cannot be read. Kept sizes go through ``thumbnail``;
    this alone makes the in-memory ones (an upload's preview, a table cell from a kept card)."""
    try:
        image = _opened(source)
        if image is None:
            return None
        with image:
            image.draft("RGB", size.box)  # a JPEG decodes at a reduced scale: far cheaper for big photos
            if image.mode in ("1", "P"):
                image = image.convert("RGB")  # Pillow shrinks these modes by nearest pixel only
            image.thumbnail(size.box)  # shrinks the decoded image itself, before any copy in another mode
            small = image.convert("RGB")
        if size.letterbox:
            box = Image.new("RGB", size.box, BACKGROUND)
            box.paste(small, ((size.box[0] - small.width) // 2, (size.box[1] - small.height) // 2))
            small = box
        out = io.BytesIO()
        small.save(out, "JPEG", quality=size.quality)
        return out.getvalue()
    except Exception:  # any file at all: Pillow and FFmpeg raise more than OSError on hostile bytes
        return None


def thumbnail(path: Path, size: Size) -> Path | None:
    """The kept thumbnail of a saved result (a video's first frame), made once; None if the result cannot be read.

    Later calls only find the file. It is written under a temporary name and renamed, so two sessions making
    the same one at once never show a half-written file.
    """
    if size.file is None:
        raise ValueError("this thumbnail size is made in memory: use thumbnail_bytes")
    thumb = path.parent / size.file.format(name=path.name)
    if thumb.exists():
        return thumb
    data = thumbnail_bytes(path, size)
    if data is None:
        return None
    try:
        thumb.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=thumb.parent, prefix=f"{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(part, thumb)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(part)
            raise
    except OSError:
        return None
    return thumb


def shown_thumbnail(path: Path | None, size: Size, media_dir: Path) -> Path | None:
    """The kept thumbnail of a saved result, only if it is a file inside ``media_dir`` (as ``saved_media``): a link
    planted where the thumbnail would be is never read."""
    made = thumbnail(path, size) if path is not None else None
    return saved_media(str(made) if made else None, media_dir)


def data_uri(data: Path | bytes, mime_type: str = "image/jpeg") -> str:
    """Inline a small picture for a page or a table cell (thumbnails only: a few KB each)."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    return f"data:{mime_type};base64,{base64.b64encode(raw).decode()}"
