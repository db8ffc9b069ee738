"""Recipes inside result files (PNG, JPEG, MP4) and the ZIP of several results, on real jobs and real files."""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
from pathlib import Path

import av
import pytest
from PIL import Image

from rivya import RivyaClient
from rivya.jobs import JobService, Reference
from rivya.recipes import (
    APP_NAME,
    ZipTooLarge,
    check_zip,
    download_name,
    jpeg_with_recipe,
    mp4_with_recipe,
    parameters_text,
    png_with_recipe,
    read_recipe,
    recipe,
    with_recipe,
    write_zip,
)
from rivya.sandbox import Sandbox
from rivya.sandbox.render import render_mp4
from rivya.tasklog import Job, TaskLog
from rivya.version import __version__

from .conftest import image_bytes


@pytest.fixture
def jobs(client: RivyaClient, tmp_path: Path) -> JobService:
    return JobService(client, TaskLog(tmp_path / "log.sqlite3"), tmp_path / "media", backend="sandbox")


def finished(jobs: JobService, model: str, prompt: str, params: dict, key: str, **options) -> Job:
    """A real job, followed until its result is saved in the media folder."""
    job = jobs.submit(model, prompt, params, idempotency_key=key, **options)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        jobs.follow_once()
        job = jobs.log.get(job.id)
        if job.is_done and (job.media_paths or job.media_error or job.status != "succeeded"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job.id} still {job.status}")


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def packets(source: Path | bytes) -> list[tuple[str, bytes, int | None, int | None]]:
    """Every stream packet: codec, payload and timestamps; equal lists mean the streams were copied untouched."""
    with av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source)) as container:
        return [(p.stream.codec_context.name, bytes(p), p.pts, p.dts) for p in container.demux() if p.dts is not None]


def test_recipe_says_how_it_was_made_and_nothing_secret(
    jobs: JobService, client: RivyaClient, sandbox: Sandbox, tmp_path: Path
) -> None:
    face = tmp_path / "references" / "face.png"
    face.parent.mkdir()
    face.write_bytes(image_bytes("PNG"))
    uploaded = client.upload_file(face.read_bytes(), kind="image", model="grok-imagine", filename="my-face.png")
    ref = Reference(local_path=str(face), uploaded=uploaded)
    job = finished(jobs, "grok-imagine", "a fox in snow", {"aspect_ratio": "1:1"}, "r1", reference=ref)
    made = recipe(job)
    assert made == {
        "app": APP_NAME, "app_version": __version__, "job_id": job.id, "task_id": job.task_id, "model": "grok-imagine",
        "prompt": "a fox in snow", "parameters": {"aspect_ratio": "1:1"}, "created_at": job.finished_at,
        "credits": 4, "references": ["my-face.png"],
    }
    text = json.dumps(made)
    saved = with_recipe(Path(job.media_paths[0]), made)
    for secret in (sandbox.api_key, ref.uploaded.url, job.idempotency_key, str(tmp_path), job.key_owner):
        assert secret not in text and secret.encode() not in saved


@pytest.mark.parametrize("prompt", ["a fox in snow, at dawn", "un renard ✨ sous la neige\nsecond line"])
def test_png_carries_the_recipe_and_keeps_its_pixels(jobs: JobService, prompt: str) -> None:
    job = finished(jobs, "grok-imagine", prompt, {"aspect_ratio": "16:9"}, "p1")
    original = Path(job.media_paths[0]).read_bytes()
    made = recipe(job)
    written = png_with_recipe(original, made)
    with Image.open(io.BytesIO(written)) as img, Image.open(io.BytesIO(original)) as before:
        assert img.text["prompt"] == prompt
        assert img.text["parameters"] == f"{prompt}\n{parameters_text(made).splitlines()[-1]}"
        assert img.text["parameters"].splitlines()[-1].startswith("Model: grok-imagine, Aspect ratio: 16:9, Task: ")
        assert json.loads(img.text["imagine-studio"]) == made
        assert img.tobytes() == before.tobytes() and img.size == before.size and img.mode == before.mode
    kept = [c for c in png_chunks(written) if c[0] not in (b"tEXt", b"iTXt")]
    assert kept == png_chunks(original)  # every other chunk byte for byte, IDAT included
    assert read_recipe(written) == made
    again = png_with_recipe(written, {**made, "credits": 99})  # written twice: replaced, never duplicated
    assert len(png_chunks(again)) == len(png_chunks(written)) and read_recipe(again)["credits"] == 99


def test_jpeg_carries_the_recipe_in_a_comment_after_its_headers() -> None:
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    Image.effect_mandelbrot((64, 48), (-2, -1.5, 1, 1.5), 50).convert("RGB").save(buffer, "JPEG", exif=exif, quality=90)
    original = buffer.getvalue()
    made = {"app": APP_NAME, "prompt": "ein Fuchs ✨", "model": "grok-imagine", "parameters": {}}
    written = jpeg_with_recipe(original, made)
    assert written[2:4] == original[2:4] == b"\xff\xe0"  # JFIF stays the first segment
    body = json.dumps(made, ensure_ascii=False, sort_keys=True).encode()
    comment = b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body
    assert comment in written and written.replace(comment, b"", 1) == original  # one segment added, nothing else touched
    with Image.open(io.BytesIO(written)) as img, Image.open(io.BytesIO(original)) as before:
        assert img.tobytes() == before.tobytes() and img.getexif()[0x010F] == "Camera maker"
    assert read_recipe(written) == made


def test_mp4_carries_the_recipe_as_metadata_with_streams_copied(tmp_path: Path) -> None:
    original = render_mp4("a paper boat", "16:9", "480p", 1)  # a real H.264 MP4, as the sandbox serves it
    made = {"app": APP_NAME, "prompt": "a paper boat\non a pond", "model": "grok-imagine-video", "parameters": {"duration": 6}}
    dest = mp4_with_recipe(original, tmp_path / "boat.mp4", made)
    with av.open(str(dest)) as container:
        assert container.metadata["title"] == "a paper boat on a pond"
        assert json.loads(container.metadata["comment"]) == made
        assert container.streams.video[0].codec_context.name == "h264"
    assert packets(dest) == packets(original) and len(packets(original)) == 12
    assert read_recipe(dest) == made == read_recipe(dest.read_bytes())
    from_path = mp4_with_recipe(dest, tmp_path / "again.mp4", {**made, "prompt": "p"})  # from a file, replacing ours
    assert read_recipe(from_path)["prompt"] == "p" and packets(from_path) == packets(original)


def test_files_without_our_recipe_read_as_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    plain.write_bytes(image_bytes("PNG"))
    other = png_with_recipe(image_bytes("PNG"), {"app": "Someone else", "prompt": "x"})
    assert read_recipe(plain) is None and read_recipe(other) is None
    assert read_recipe(b"hello, world") is None and read_recipe(image_bytes("JPEG")) is None
    video = render_mp4("a boat", "1:1", "480p", 1)
    assert read_recipe(b"\x89PNG\r\n\x1a\n cut") is None and read_recipe(video) is None and read_recipe(video[:300]) is None
    webp = tmp_path / "a.webp"
    webp.write_bytes(image_bytes("WEBP"))
    assert with_recipe(webp, {"app": APP_NAME}) == webp.read_bytes()  # documented: WebP goes out unchanged


def test_download_names_come_from_the_prompt(jobs: JobService) -> None:
    job = finished(jobs, "grok-imagine", "../../etc/passwd: A Fox, in SNOW!", {}, "n1")
    assert download_name(job, ".PNG") == f"etc-passwd-a-fox-in-snow-{job.id}.png"
    assert download_name(job, ".mp4", index=1) == f"etc-passwd-a-fox-in-snow-{job.id}-2.mp4"
    emoji = finished(jobs, "grok-imagine", "✨✨", {}, "n2")
    assert download_name(emoji, ".png") == f"imagine-{emoji.id}.png"


def test_zip_holds_the_files_with_recipes_and_recipes_json(jobs: JobService, tmp_path: Path) -> None:
    image = finished(jobs, "grok-imagine", "a red kite", {"aspect_ratio": "1:1"}, "z1")
    video = finished(jobs, "grok-imagine-video", "a kite flying", {"duration": 6}, "z2")
    failed = finished(jobs, "grok-imagine", "please #fail", {}, "z3")
    out = io.BytesIO()
    write_zip([image, video, failed], jobs.media_dir, out)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        png_name, mp4_name = download_name(image, ".png"), download_name(video, ".mp4")
        assert archive.namelist() == [png_name, mp4_name, "recipes.json"]
        assert json.loads(archive.read("recipes.json")) == [
            {"files": [png_name], **recipe(image)}, {"files": [mp4_name], **recipe(video)}, {"files": [], **recipe(failed)},
        ]
        assert read_recipe(archive.read(png_name)) == recipe(image) and read_recipe(archive.read(mp4_name)) == recipe(video)
        assert packets(archive.read(mp4_name)) == packets(Path(video.media_paths[0]))


def test_zip_over_the_limit_is_refused_before_anything_is_built(jobs: JobService) -> None:
    chosen = [finished(jobs, "grok-imagine", f"a kite {n}", {}, f"big{n}") for n in range(2)]
    total = sum(Path(j.media_paths[0]).stat().st_size for j in chosen)
    assert check_zip(chosen, jobs.media_dir, max_bytes=total) == total
    out = io.BytesIO()
    with pytest.raises(ZipTooLarge, match=r"Select fewer results") as refused:
        write_zip(chosen, jobs.media_dir, out, max_bytes=total - 1)
    assert (refused.value.total, refused.value.limit) == (total, total - 1) and out.getvalue() == b""
    assert "500 MB" in str(ZipTooLarge(600 * 2**20, 500 * 2**20)) and "600 MB" in str(ZipTooLarge(600 * 2**20, 500 * 2**20))


def test_a_file_the_recipe_cannot_go_into_comes_back_as_it_is(tmp_path: Path) -> None:
    damaged = tmp_path / "cut.mp4"
    damaged.write_bytes(render_mp4("a paper boat", "16:9", "480p", 1)[:600])  # a video cut short: FFmpeg refuses it
    assert with_recipe(damaged, {"prompt": "a paper boat"}) == damaged.read_bytes()
    archive = io.BytesIO()
    job = Job(id=1, idempotency_key="k", backend="b", submitted_at="2026-11-25T10:00:00+00:00", updated_at="",
              finished_at=None, model="grok-imagine-video", category="video", prompt="a paper boat", params={},
              reference_path=None, reference_url=None, task_id="t", status="succeeded", reserved_credits=14,
              final_credits=14, result_urls=[], media_paths=[str(damaged)], error_code=None, error_message=None, page=None,
              session_id=None, polls=1, key_owner="shared", expected_credits=14)
    write_zip([job], tmp_path, archive)  # one odd file never fails the whole ZIP
    with zipfile.ZipFile(archive) as done:
        assert done.read(download_name(job, ".mp4")) == damaged.read_bytes()
