"""Real placeholder media for the sandbox: a PNG that shows the prompt, and an H.264 MP4.

Video is encoded with PyAV (``av``): maintained FFmpeg bindings whose wheels bundle
libx264, so no system FFmpeg and no download at run time; MP4/H.264 plays in Chromium.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import textwrap
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

VIDEO_FPS = 12


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


def _palette(prompt: str) -> tuple[np.ndarray, np.ndarray]:
    digest = hashlib.sha256(prompt.encode("utf-8", "replace")).digest()
    top = np.array([40 + digest[0] % 120, 40 + digest[1] % 120, 90 + digest[2] % 140], dtype=np.float32)
    bottom = np.array([20 + digest[3] % 90, 20 + digest[4] % 90, 40 + digest[5] % 90], dtype=np.float32)
    return top, bottom


def _canvas(prompt: str, size: tuple[int, int], caption: str) -> Image.Image:
    """A gradient card with the prompt wrapped on it and a caption along the bottom."""
    width, height = size
    top, bottom = _palette(prompt)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    pixels = (top * (1 - t) + bottom * t).astype(np.uint8)
    img = Image.fromarray(np.broadcast_to(pixels, (height, width, 3)).copy(), "RGB")
    draw = ImageDraw.Draw(img)
    scale = min(width, height)
    font = ImageFont.load_default(size=max(12, scale // 18))
    small = ImageFont.load_default(size=max(10, scale // 36))
    chars = max(8, int(width / (scale / 18) * 1.7))
    text = " ".join(prompt.split())
    lines = textwrap.wrap(text, chars)[: max(1, int(height / (scale / 18) / 1.4) - 3)] or [""]
    y = height // 2 - len(lines) * (scale // 18) * 0.7
    for line in lines:
        draw.text((width / 2, y), line, fill=(250, 250, 250), font=font, anchor="mt")
        y += (scale // 18) * 1.4
    draw.text((width / 2, height - scale // 20), caption, fill=(225, 225, 235), font=small, anchor="mb")
    return img


@lru_cache(maxsize=64)
def render_png(prompt: str, aspect_ratio: str, pro: bool) -> bytes:
    """The image a sandbox ``grok-imagine`` task returns (larger in quality mode)."""
    size = image_size(aspect_ratio, pro=pro)
    caption = f"Imagine Studio sandbox · {aspect_ratio} · {'Quality' if pro else 'Standard'} · {size[0]}x{size[1]}"
    buffer = io.BytesIO()
    _canvas(prompt, size, caption).save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


@lru_cache(maxsize=16)
def render_mp4(prompt: str, aspect_ratio: str, resolution: str, duration: int) -> bytes:
    """The video a sandbox ``grok-imagine-video`` task returns: exactly ``duration`` seconds."""
    import av  # imported here: only video rendering needs FFmpeg

    width, height = video_size(aspect_ratio, resolution)
    caption = f"Imagine Studio sandbox · {resolution} · {aspect_ratio} · {duration}s"
    base = np.asarray(_canvas(prompt, (width, height), caption))
    frames = duration * VIDEO_FPS
    bar = max(4, height // 60)
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        # faststart moves the index to the front so the browser can start playing at once;
        # it rewrites the file, which needs a real path rather than a memory buffer.
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=VIDEO_FPS, options={"preset": "ultrafast", "crf": "28"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for n in range(frames):
                frame = base.copy()
                frame[height - bar :, : int(width * (n + 1) / frames)] = (255, 200, 60)
                x = int((width - bar * 4) * (0.5 + 0.5 * np.sin(n / VIDEO_FPS * 2)))
                frame[bar * 2 : bar * 6, x : x + bar * 4] = (255, 255, 255)
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)
