"""Media the studio holds: reference images checked by their content, and lookups of saved result files."""

from __future__ import annotations

import functools
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from . import constants, sniffing
from .catalog import ReferenceRule
from .constants import MAX_REFERENCE_PIXELS
from .errors import InvalidInputError

# Pillow's formats we accept, by the format the reference names.
_PIL_FORMATS = {"JPEG": sniffing.JPEG, "PNG": sniffing.PNG, "WEBP": sniffing.WEBP}


@dataclass(frozen=True)
class ImageInfo:
    """What content sniffing found in an image file."""

    mime_type: str
    width: int
    height: int
    size: int

    @property
    def extension(self) -> str:
        return next(f.extension or "" for f in _PIL_FORMATS.values() if f.mime == self.mime_type)


def inspect_image(data: bytes, rule: ReferenceRule, *, name: str = "the file") -> ImageInfo:
    """Check a reference image by its content; ``InvalidInputError`` says what is wrong.

    The name and extension are never trusted: the service sniffs content (reference 5),
    so we do the same and refuse early, before an upload is spent.
    """
    if not data:
        raise InvalidInputError([f"{name} is empty (0 bytes)."])
    if len(data) > rule.max_bytes:
        # Binary megabytes, as the limit itself (10 MB = 10 x 1024 x 1024 bytes) and Streamlit count them.
        raise InvalidInputError(
            [f"{name} is {len(data) / 2**20:.1f} MB; reference images may be at most {rule.max_bytes / 2**20:g} MB."]
        )
    allowed = ", ".join(m.split("/")[1].upper() for m in rule.mime_types)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(_PIL_FORMATS)) as img:
                mime = _PIL_FORMATS[img.format or ""].mime
                width, height = img.size
                if width * height > MAX_REFERENCE_PIXELS:
                    raise InvalidInputError(
                        [f"{name} is {width}×{height} pixels; the limit is {MAX_REFERENCE_PIXELS // 1_000_000} megapixels."]
                    )
                if img.format != "JPEG" and width * height > constants.MAX_DECODED_PIXELS:
                    side = math.isqrt(constants.MAX_DECODED_PIXELS)
                    raise InvalidInputError([
                        f"{name} is {width}×{height} pixels; a {img.format} reference may have at most "
                        f"{constants.MAX_DECODED_PIXELS / 1_000_000:.1f} megapixels ({side}×{side}). "
                        f"Save it smaller, or as a JPEG (up to {MAX_REFERENCE_PIXELS // 1_000_000} megapixels)."
                    ])
                _draft_eighth(img)  # JPEG: every byte is still decoded and checked, into 1/64 of the pixels
                img.load()
    except InvalidInputError:
        raise
    except (UnidentifiedImageError, KeyError):
        raise _unreadable(data, name, allowed) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInputError([f"{name} unpacks to far too many pixels to be a reference image."]) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError([f"{name} is damaged or cut short and cannot be read ({type(exc).__name__})."]) from None
    if mime not in rule.mime_types:
        raise InvalidInputError([f"{name} is {mime}; accepted: {allowed}."])
    return ImageInfo(mime_type=mime, width=width, height=height, size=len(data))


def _unreadable(data: bytes, name: str, allowed: str) -> InvalidInputError:
    """Why Pillow found no accepted image: another format, or one of ours whose header is broken."""
    found = sniffing.sniff(data)
    if found in _PIL_FORMATS.values():
        return InvalidInputError([f"{name} is {found.name} that is damaged or cut short and cannot be read."])
    return InvalidInputError(
        [f"{name} is {sniffing.describe_content(data)}, not a {allowed} image (checked by content, not by name)."]
    )


def _draft_eighth(img: Image.Image) -> None:
    """Ask a JPEG to decode at 1/8 scale (its decoder still reads and checks every byte); other formats ignore it."""
    img.draft(None, (max(1, img.width // 8), max(1, img.height // 8)))


def saved_media(path: str | None, media_dir: Path) -> Path | None:
    """The resolved path of a saved result, only if it is a regular file inside ``media_dir``.

    The one way UI code obtains a file to show: a path from the log is followed through
    symlinks and ``..`` first, so nothing outside the media folder (``/proc/self/environ``,
    a link to ``/etc``) can be shown or served.
    """
    if not isinstance(path, str) or not path:
        return None
    try:
        root = Path(media_dir).resolve(strict=True)
        resolved = Path(path).resolve(strict=True)
        inside = resolved.is_relative_to(root) and resolved != root and resolved.is_file()
    except (OSError, RuntimeError, ValueError):
        return None
    return resolved if inside else None


@functools.lru_cache(maxsize=4096)
def _decoded_size(path: str, size: int, mtime_ns: int) -> tuple[int, int] | None:
    """``result_image_size`` for one version of a file (its size and mtime are part of the key)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > constants.MAX_DECODED_PIXELS:
                    return None
                shape = img.size
                _draft_eighth(img)
                img.load()
    except Exception:  # any file at all: Pillow raises more than OSError on hostile bytes
        return None
    return shape


def result_image_size(path: Path) -> tuple[int, int] | None:
    """Width and height of a saved result image that decodes, or None: not an image Pillow reads, damaged or cut
    short, or past ``constants.MAX_DECODED_PIXELS``. What may be shown, thumbnailed or measured for layout.

    Decoded once per file version (a saved result never changes), so a page that shows it again pays a ``stat``.
    """
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return _decoded_size(str(path), stat.st_size, stat.st_mtime_ns)
