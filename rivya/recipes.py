"""Files that carry their recipe: how a result was made, written inside the file and read back.

Where each format keeps it (the pixels and the video streams are never re-encoded):
- PNG: text chunks inserted before the image data, as Stable Diffusion UIs do: ``parameters``
  (AUTOMATIC1111 style: the prompt, then one line of settings), ``prompt`` and ``imagine-studio``
  (the recipe as JSON). Pillow shows them in ``Image.text``.
- JPEG: one comment (COM) segment holding the recipe JSON, inserted after the JFIF/EXIF headers;
  every other byte is kept. Pillow shows it in ``Image.info["comment"]``.
- MP4 / MOV: container metadata, ``title`` (the prompt) and ``comment`` (the recipe JSON), by a
  remux that copies every stream packet as it is.
- Anything else (WebP, GIF, AVIF, WebM): shipped unchanged; the recipe travels in the ZIP's
  ``recipes.json`` only. WebP would need its RIFF header rewritten to an extended one; no model
  we call returns WebP today.

A recipe never holds the API key, the key's owner, the idempotency key, a session id, a local
path or a reference link (those may carry signed tokens): only what a person chose and was told.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from PIL import Image, UnidentifiedImageError

from .catalog import REFERENCE_ITEMS_KEY
from .constants import MAX_ZIP_BYTES
from .errors import RivyaError
from .media import saved_media
from .sniffing import PNG_SIGNATURE, sniff_head
from .tasklog import Job
from .version import __version__

APP_NAME = "Imagine Studio"
RECIPE_KEY = "imagine-studio"  # the PNG text chunk holding the recipe JSON
log = logging.getLogger("rivya.recipes")
_VIDEO_FORMATS = {"video/mp4": "mp4", "video/quicktime": "mov"}


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f}".removesuffix(".0") + " MB"


class ZipTooLarge(RivyaError):
    """The selected results together exceed the ZIP size limit; nothing was built."""

    def __init__(self, total: int, limit: int) -> None:
        self.total, self.limit = total, limit
        super().__init__(
            f"The selected results add up to {_mb(total)}; a ZIP may hold at most {_mb(limit)}. "
            "Select fewer results."
        )


def recipe(job: Job) -> dict[str, Any]:
    """How ``job`` was made, safe to hand to anyone: no key, no owner, no local path, no reference link."""
    params = {k: v for k, v in job.params.items() if k != REFERENCE_ITEMS_KEY}
    references = [item.get("name") or "reference" for item in job.params.get(REFERENCE_ITEMS_KEY) or [] if isinstance(item, dict)]
    made = {
        "app": APP_NAME,
        "app_version": __version__,
        "job_id": job.id,
        "task_id": job.task_id,
        "model": job.model,
        "prompt": job.prompt,
        "parameters": params,
        "created_at": job.finished_at or job.submitted_at,
        "credits": job.charged_credits,
    }
    if references:
        made["references"] = references
    return made


def parameters_text(made: dict[str, Any]) -> str:
    """The AUTOMATIC1111-style summary: the prompt, then ``Key: value`` settings on one line."""
    settings = {"Model": made.get("model"), **{_title(k): v for k, v in (made.get("parameters") or {}).items()}}
    settings |= {"Task": made.get("task_id"), "Credits": made.get("credits"), "Date": made.get("created_at")}
    settings["Version"] = f"{made.get('app', APP_NAME)} {made.get('app_version', '')}".strip()
    line = ", ".join(f"{k}: {_flat(v)}" for k, v in settings.items() if v not in (None, ""))
    return f"{made.get('prompt', '')}\n{line}"


def _title(key: str) -> str:
    """``aspectRatio`` / ``aspect_ratio`` -> ``Aspect ratio``."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ").lower()
    return words[:1].upper() + words[1:]


def _flat(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.replace(",", ";").split())  # a comma would split the value for A1111 parsers


def _recipe_json(made: dict[str, Any]) -> str:
    return json.dumps(made, ensure_ascii=False, sort_keys=True)


# -- PNG ----------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_text(key: str, value: str) -> bytes:
    """A tEXt chunk when the value is Latin-1 (what most tools read), else an uncompressed UTF-8 iTXt chunk."""
    try:
        return _png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _png_chunk(b"iTXt", key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8"))


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, whole chunk) pairs; ValueError if ``data`` is not a complete PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    chunks, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("PNG cut short")
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("PNG cut short")
        chunks.append((data[pos + 4 : pos + 8], data[pos:end]))
        pos = end
    if not chunks or chunks[-1][0] != b"IEND":
        raise ValueError("PNG without an end")
    return chunks


def _text_key(kind: bytes, chunk: bytes) -> str | None:
    if kind not in (b"tEXt", b"iTXt", b"zTXt"):
        return None
    return chunk[8:].split(b"\0", 1)[0].decode("latin-1")


def png_with_recipe(data: bytes, made: dict[str, Any]) -> bytes:
    """``data`` with the recipe's text chunks (replacing ours from before); every other chunk is kept byte for byte."""
    ours = {"parameters": parameters_text(made), "prompt": str(made.get("prompt", "")), RECIPE_KEY: _recipe_json(made)}
    out, inserted = [PNG_SIGNATURE], False
    for kind, chunk in _png_chunks(data):
        if _text_key(kind, chunk) in ours:
            continue
        if kind in (b"IDAT", b"IEND") and not inserted:
            out.extend(_png_text(key, value) for key, value in ours.items())
            inserted = True
        out.append(chunk)
    return b"".join(out)


# -- JPEG ---------------------------------------------------------------------------------------


def jpeg_with_recipe(data: bytes, made: dict[str, Any]) -> bytes:
    """``data`` with a COM segment holding the recipe JSON, after the APPn headers (JFIF must stay first)."""
    if sniff_head(data) != "image/jpeg":
        raise ValueError("not a JPEG")
    body = _recipe_json(made).encode("utf-8")
    if len(body) > 65533:
        raise ValueError("recipe too long for a JPEG comment")
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and 0xE0 <= data[pos + 1] <= 0xEF:
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    return data[:pos] + b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body + data[pos:]


# -- MP4 ----------------------------------------------------------------------------------------


def mp4_with_recipe(source: Path | bytes, dest: Path, made: dict[str, Any]) -> Path:
    """Copy an MP4/MOV to ``dest`` with ``title`` and ``comment`` set; every stream is copied, not re-encoded."""
    import av  # only videos need FFmpeg

    fmt = _VIDEO_FORMATS.get(sniff_head(_head(source)) or "")
    if fmt is None:
        raise ValueError("not an MP4 or MOV video")
    # faststart puts the index first so browsers play at once; it rewrites the file, so dest must be a path.
    with (
        av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source)) as src,
        av.open(str(dest), "w", format=fmt, options={"movflags": "+faststart"}) as out,
    ):
        out.metadata.update(src.metadata)
        out.metadata.update({"title": " ".join(str(made.get("prompt", "")).split()), "comment": _recipe_json(made)})
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams if s.type in ("video", "audio")}
        for packet in src.demux([s for s in src.streams if s.index in streams]):
            if packet.dts is None:  # the demuxer's end-of-stream marker carries no data
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dest


def _head(source: Path | bytes) -> bytes:
    if isinstance(source, bytes):
        return source[:64]
    with open(source, "rb") as fh:
        return fh.read(64)


def with_recipe(path: Path, made: dict[str, Any]) -> bytes:
    """The saved file's bytes with the recipe inside, for PNG, JPEG, MP4 and MOV; other types unchanged.

    A file the recipe cannot be written into (damaged, or a container FFmpeg refuses) is still worth having:
    it comes back as it is, so one odd file never fails a download or a whole ZIP.
    """
    kind = sniff_head(_head(path))
    try:
        if kind == "image/png":
            return png_with_recipe(path.read_bytes(), made)
        if kind == "image/jpeg":
            return jpeg_with_recipe(path.read_bytes(), made)
        if kind in _VIDEO_FORMATS:
            fd, name = tempfile.mkstemp(suffix=path.suffix)
            os.close(fd)
            try:
                return mp4_with_recipe(path, Path(name), made).read_bytes()
            finally:
                os.unlink(name)
    except Exception as exc:
        log.warning("job %s: recipe not embedded (%s)", made.get("job_id"), type(exc).__name__)
    return path.read_bytes()


def read_recipe(source: Path | str | bytes) -> dict[str, Any] | None:
    """The recipe inside a PNG, JPEG, MP4 or MOV written by this app, or None if it carries none."""
    source = source if isinstance(source, bytes) else Path(source)
    opened = io.BytesIO(source) if isinstance(source, bytes) else str(source)  # a path is read as needed, not whole
    try:
        kind = sniff_head(_head(source))
        if kind in ("image/png", "image/jpeg"):
            with Image.open(opened) as img:
                texts = [img.text.get(RECIPE_KEY)] if kind == "image/png" else [v for k, v in img.applist if k == "COM"]
        elif kind in _VIDEO_FORMATS:
            import av

            try:
                with av.open(opened) as container:
                    texts = [container.metadata.get("comment")]
            except av.FFmpegError:
                return None
        else:
            return None
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    for text in texts:
        try:
            made = json.loads(text)
        except (TypeError, ValueError):
            continue
        if isinstance(made, dict) and made.get("app") == APP_NAME:
            return made
    return None


# -- names and ZIP ------------------------------------------------------------------------------


def download_name(job: Job, suffix: str, *, index: int = 0) -> str:
    """``a-red-fox-in-snow-42.png``: the prompt's first words, the job id, and the file's own extension."""
    words = re.sub(r"[^\w]+", "-", job.prompt.lower(), flags=re.UNICODE).strip("-_")[:48].rstrip("-_")
    return f"{words or 'imagine'}-{job.id}{f'-{index + 1}' if index else ''}{suffix.lower()}"


def _saved_files(job: Job, media_dir: Path) -> list[Path]:
    return [p for p in (saved_media(m, media_dir) for m in job.media_paths) if p is not None]


def check_zip(jobs: Iterable[Job], media_dir: Path, *, max_bytes: int = MAX_ZIP_BYTES) -> int:
    """The total size of the jobs' saved files, or ``ZipTooLarge`` when it passes ``max_bytes`` (only sizes are read)."""
    total = sum(path.stat().st_size for job in jobs for path in _saved_files(job, media_dir))
    if total > max_bytes:
        raise ZipTooLarge(total, max_bytes)
    return total


def write_zip(jobs: Iterable[Job], media_dir: Path, out: IO[bytes], *, max_bytes: int = MAX_ZIP_BYTES) -> None:
    """Write to ``out`` a ZIP of the jobs' saved files (each with its recipe inside) and ``recipes.json``.

    Raises ``ZipTooLarge`` before reading a single file when the files add up to more than ``max_bytes``.
    One file at a time is held in memory; ``out`` may be a ``SpooledTemporaryFile`` that spills to disk.
    Jobs without a saved file are still listed in ``recipes.json``, with no files.
    """
    chosen = [(job, _saved_files(job, media_dir)) for job in jobs]
    check_zip([job for job, _ in chosen], media_dir, max_bytes=max_bytes)
    recipes = []
    with zipfile.ZipFile(out, "w") as archive:
        for job, paths in chosen:
            made = recipe(job)
            names = [download_name(job, path.suffix, index=i) for i, path in enumerate(paths)]
            for name, path in zip(names, paths, strict=True):
                archive.writestr(name, with_recipe(path, made), compress_type=zipfile.ZIP_STORED)  # media are compressed already
            recipes.append({"files": names, **made})
        archive.writestr("recipes.json", json.dumps(recipes, ensure_ascii=False, indent=2), compress_type=zipfile.ZIP_DEFLATED)
