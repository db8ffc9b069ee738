"""What a file's first bytes say it is: the one signature table, for the reference check, the client's upload,
the result download and recipes alike.

Names and extensions are never trusted (the service sniffs content too, reference section 5). A whole-file
parse is not used: photos can carry hundreds of KB of metadata (ICC, C2PA) before the first pixel, and a
download must know its type from its start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 64  # enough for every signature below, and for a whole ``ftyp`` box in practice
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Format:
    """One file format the app recognises: its MIME type, a plain name for messages, and the suffix a saved
    result gets (None: a browser cannot show it, so a result of this format is never saved)."""

    mime: str
    name: str
    extension: str | None = None


PNG = Format("image/png", "a PNG image", ".png")
JPEG = Format("image/jpeg", "a JPEG image", ".jpg")
GIF = Format("image/gif", "a GIF", ".gif")
WEBP = Format("image/webp", "a WebP image", ".webp")
AVIF = Format("image/avif", "an AVIF image", ".avif")
# Recognised but refused as a result: a browser cannot show it, so Rivya's own link is offered instead.
HEIC = Format("image/heic", "a HEIC photo")
MP4 = Format("video/mp4", "an MP4 video", ".mp4")
QUICKTIME = Format("video/quicktime", "a QuickTime video", ".mov")
WEBM = Format("video/webm", "a WebM video", ".webm")
MP3 = Format("audio/mpeg", "an MP3 sound")
AAC = Format("audio/aac", "an AAC sound")
OGG = Format("audio/ogg", "an Ogg file")
WAV = Format("audio/wav", "a WAV sound")
SVG = Format("image/svg+xml", "an SVG drawing")
XML = Format("application/xml", "an XML/SVG file")
BMP = Format("image/bmp", "a BMP image")
PDF = Format("application/pdf", "a PDF document")
# The suffixes a saved video result can have (a result is named by its sniffed format).
VIDEO_SUFFIXES = tuple(f.extension or "" for f in (MP4, QUICKTIME, WEBM))


def is_video(path: Path) -> bool:
    """Whether a saved result is a video: results are named by their sniffed format, so the suffix says."""
    return path.suffix.lower() in VIDEO_SUFFIXES

# (offset, bytes that must be there, format); the first match wins. RIFF and ISO (``ftyp``) files are told apart by
# more than a prefix: see ``sniff``.
_SIGNATURES: tuple[tuple[int, bytes, Format], ...] = (
    (0, PNG_SIGNATURE, PNG),
    (0, b"\xff\xd8\xff", JPEG),
    (0, b"GIF87a", GIF),
    (0, b"GIF89a", GIF),
    (0, b"\x1aE\xdf\xa3", WEBM),
    (0, b"ID3", MP3),
    (0, b"\xff\xfb", MP3),
    (0, b"\xff\xf1", AAC),
    (0, b"OggS", OGG),
    (0, b"BM", BMP),
    (0, b"%PDF", PDF),
)
_RIFF_FORMATS = {b"WEBP": WEBP, b"WAVE": WAV}
# Text formats may start after white space.
_TEXT_SIGNATURES: tuple[tuple[bytes, Format], ...] = ((b"<svg", SVG), (b"<?xml", XML))


def _iso_format(head: bytes) -> Format:
    """AVIF, HEIC, QuickTime or MP4, by the brands of an ``ftyp`` box (an AVIF may name ``mif1`` first)."""
    brands = head[8 : int.from_bytes(head[:4], "big")]  # major brand, minor version, compatible brands
    if b"avif" in brands or b"avis" in brands:
        return AVIF
    if any(brand in brands for brand in (b"heic", b"heix", b"mif1", b"msf1")):
        return HEIC
    return QUICKTIME if brands.startswith(b"qt") else MP4


def sniff(data: bytes) -> Format | None:
    """The format the first bytes of a file announce, or None if they match no known signature."""
    if data[:4] == b"RIFF":
        return _RIFF_FORMATS.get(data[8:12])
    if data[4:8] == b"ftyp":
        return _iso_format(data[:HEAD_BYTES])
    for offset, magic, found in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return found
    text = data[:HEAD_BYTES].lstrip()
    return next((found for magic, found in _TEXT_SIGNATURES if text.startswith(magic)), None)


def sniff_head(head: bytes) -> str | None:
    """The MIME type the first bytes of a file announce, or None if they match no known signature."""
    found = sniff(head)
    return found.mime if found else None


def describe_content(data: bytes) -> str:
    """A plain name for what the bytes look like, for error messages."""
    found = sniff(data)
    if found is not None:
        return found.name
    if b"\x00" not in data[:512]:
        return "a text file"
    return "not an image we recognise"


