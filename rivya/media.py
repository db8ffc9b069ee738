"""Media helpers: checking reference images by content, result sizes, and saving results."""

from __future__ import annotations

import io
import mimetypes
import warnings
from dataclasses import dataclass
from pathlib import Path

import requests
from PIL import Image, UnidentifiedImageError

from . import constants
from .catalog import ReferenceRule
from .errors import InvalidInputError, RivyaError

# Pillow's formats we accept, by the MIME type the reference names.
_PIL_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Anything larger is refused as a likely decompression bomb; real photos are far smaller.
MAX_REFERENCE_PIXELS = 50_000_000

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"GIF87a", 0, "a GIF"),
    (b"GIF89a", 0, "a GIF"),
    (b"<svg", 0, "an SVG drawing"),
    (b"<?xml", 0, "an XML/SVG file"),
    (b"ftypheic", 4, "a HEIC photo"),
    (b"ftypheix", 4, "a HEIC photo"),
    (b"ftypmif1", 4, "a HEIF photo"),
    (b"ftypavif", 4, "an AVIF image"),
    (b"BM", 0, "a BMP image"),
    (b"%PDF", 0, "a PDF document"),
)


@dataclass(frozen=True)
class ImageInfo:
    """What content sniffing found in an image file."""

    mime_type: str
    width: int
    height: int
    size: int

    @property
    def extension(self) -> str:
        return {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}[self.mime_type]


def describe_content(data: bytes) -> str:
    """A plain name for what the bytes look like, for error messages."""
    head = data[:64].lstrip()
    for magic, offset, name in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic or data[offset : offset + len(magic)] == magic:
            return name
    if b"\x00" not in data[:512]:
        return "a text file"
    return "not an image we recognise"


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
                mime = _PIL_FORMATS[img.format or ""]
                width, height = img.size
                if width * height > MAX_REFERENCE_PIXELS:
                    raise InvalidInputError(
                        [f"{name} is {width}×{height} pixels; the limit is {MAX_REFERENCE_PIXELS // 1_000_000} megapixels."]
                    )
                img.load()
    except InvalidInputError:
        raise
    except (UnidentifiedImageError, KeyError):
        raise InvalidInputError(
            [f"{name} is {describe_content(data)}, not a {allowed} image (checked by content, not by name)."]
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInputError([f"{name} unpacks to far too many pixels to be a reference image."]) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError([f"{name} is damaged or cut short and cannot be read ({type(exc).__name__})."]) from None
    if mime not in rule.mime_types:
        raise InvalidInputError([f"{name} is {mime}; accepted: {allowed}."])
    return ImageInfo(mime_type=mime, width=width, height=height, size=len(data))


def _ratio(aspect_ratio: str) -> tuple[int, int]:
    w, h = aspect_ratio.split(":")
    return int(w), int(h)


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def image_size(aspect_ratio: str, *, pro: bool = False) -> tuple[int, int]:
    """Pixel size of a generated image: the long side 1024, or 1536 in quality mode."""
    w, h = _ratio(aspect_ratio)
    long_side = 1536 if pro else 1024
    scale = long_side / max(w, h)
    return _even(w * scale), _even(h * scale)


def video_size(aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """Pixel size of a generated video: ``480p`` / ``720p`` name the shorter side."""
    w, h = _ratio(aspect_ratio)
    short_side = int(resolution.rstrip("p"))
    scale = short_side / min(w, h)
    return _even(w * scale), _even(h * scale)


def extension_for(mime_type: str | None, url: str) -> str:
    """File extension for saved media: from the content type, else from the URL."""
    ext = mimetypes.guess_extension((mime_type or "").split(";")[0].strip()) if mime_type else None
    if ext in (".jpe", ".jpeg"):
        ext = ".jpg"
    if not ext:
        suffix = Path(url.split("?")[0]).suffix.lower()
        ext = suffix if 1 < len(suffix) <= 5 else ".bin"
    return ext


def download_media(
    session: requests.Session,
    url: str,
    dest_stem: Path,
    *,
    expected: str,
    max_bytes: int = constants.MEDIA_MAX_BYTES,
) -> Path:
    """Fetch one result URL to ``dest_stem`` + extension, streaming, capped and type-checked.

    Only http(s) URLs, a size cap and a timeout: result URLs come from the service, but a
    careful client still refuses to write unbounded or unexpected content to disk. The file
    appears under its final name only when complete.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise RivyaError(f"refusing to fetch a result URL that is not http(s): {url[:40]!r}")
    with session.get(url, stream=True, timeout=constants.MEDIA_TIMEOUT) as response:
        response.raise_for_status()
        content_type = response.headers.get("Content-Type", "")
        if content_type and not content_type.startswith((f"{expected}/", "application/octet-stream")):
            raise RivyaError(f"result was {content_type!r}, expected {expected} content")
        dest = dest_stem.with_suffix(extension_for(content_type, url))
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_suffix(dest.suffix + ".part")
        written = 0
        with open(partial, "wb") as fh:
            for chunk in response.iter_content(chunk_size=256 * 1024):
                written += len(chunk)
                if written > max_bytes:
                    fh.close()
                    partial.unlink(missing_ok=True)
                    raise RivyaError(f"result is larger than {max_bytes // (1024 * 1024)} MB; not saved")
                fh.write(chunk)
    partial.replace(dest)
    return dest


_AV_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"ftypqt", 4, "video/quicktime"),
    (b"ftyp", 4, "video/mp4"),
    (b"\x1aE\xdf\xa3", 0, "video/webm"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\xff\xfb", 0, "audio/mpeg"),
    (b"\xff\xf1", 0, "audio/aac"),
    (b"OggS", 0, "audio/ogg"),
)


def sniff_mime(data: bytes) -> str | None:
    """The MIME type the bytes really are (images by Pillow, video/audio by signature)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return Image.MIME.get(img.format or "")
    except Exception:
        pass
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    for magic, offset, mime in _AV_SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return mime
    return None


THUMBNAIL_SIZE = (160, 160)


def thumbnail(path: Path) -> Path | None:
    """A small JPEG beside a saved result (first frame for a video), made once; None if unreadable."""
    thumb = path.with_name(path.name + ".thumb.jpg")
    if thumb.exists():
        return thumb
    try:
        if path.suffix.lower() in (".mp4", ".webm", ".mov"):
            import av

            with av.open(str(path)) as container:
                image = next(container.decode(video=0)).to_image()
        else:
            image = Image.open(path)
        image = image.convert("RGB")
        image.thumbnail(THUMBNAIL_SIZE)
        image.save(thumb, "JPEG", quality=80)
    except Exception:
        return None
    return thumb


def data_uri(path: Path, mime_type: str = "image/jpeg") -> str:
    """Inline a small file for a table cell (thumbnails only: a few KB each)."""
    import base64

    return f"data:{mime_type};base64,{base64.b64encode(path.read_bytes()).decode()}"
