"""What a reply can make the app do: how much one task stores, files that are not pictures, and service text."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from rivya import RivyaClient, constants
from rivya.jobs import JobService
from rivya.results import offered_note
from rivya.sandbox import Sandbox
from rivya.tasklog import Job, TaskLog
from ui.pictures import UNREADABLE
from ui.text import WORD_JOINER, md_escape

from .conftest import APP, figure_text, image_bytes, open_page
from .test_gallery import tile_data
from .test_media import Site, serve

ROOT = Path(__file__).resolve().parent.parent
PNG = image_bytes("PNG", (32, 24), "red")
EVIL_STATUS = "**x** [link](http://evil.example/) :red[y]"


@pytest.fixture
def jobs(client: RivyaClient, tmp_path: Path) -> Iterator[JobService]:
    service = JobService(client, TaskLog(tmp_path / "log.sqlite3"), tmp_path / "media", backend="test")
    yield service
    service.stop()
    service.log.close()


def succeeded(jobs: JobService, urls: list[str]) -> Job:
    """A job whose task succeeded with these result links, not saved yet (the follower saves it on its first pass)."""
    job = jobs.log.add(idempotency_key=f"k-{jobs.log.count()}", backend=jobs.backend, model="grok-imagine",
                       category="image", prompt="a fox", params={})
    return jobs.log.update(job.id, status="succeeded", result_urls=urls)


# -- how much one task stores --------------------------------------------------------------------------------


def test_a_reply_listing_25_results_stores_only_the_one_the_model_makes(jobs: JobService, site: Site) -> None:
    for n in range(25):
        site.routes[f"/r{n}.png"] = serve(PNG, "image/png")
    job = succeeded(jobs, [site.url(f"/r{n}.png") for n in range(25)])
    jobs.follow_once()
    saved = jobs.log.get(job.id)
    assert len(saved.media_paths) == 1 and saved.media_error is None
    assert [path for path, _ in site.hits] == ["/r0.png"]  # the other 24 links are never even fetched
    results = [p for p in jobs.media_dir.iterdir() if not p.name.endswith(".thumb.jpg")]
    assert [p.name for p in results] == [Path(saved.media_paths[0]).name]
    assert offered_note(saved) == "The service offered 25 results; the studio kept the first one."
    assert offered_note(jobs.log.update(job.id, result_urls=saved.result_urls[:1])) is None


def test_one_task_stores_no_more_than_its_byte_cap(jobs: JobService, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(constants.MEDIA_TASK_MAX_BYTES, "image", 4096)
    site.routes["/big.png"] = serve(PNG + b"\x00" * 5000, "image/png")
    job = succeeded(jobs, [site.url("/big.png")])
    jobs.follow_once()
    refused = jobs.log.get(job.id)
    assert refused.media_paths == [] and "larger than" in (refused.media_error or "")
    assert not jobs.media_dir.exists() or list(jobs.media_dir.iterdir()) == []


def logged(status: str, *, prompt: str = "a fox", media: bytes | None = None, **fields: object) -> Job:
    """A job of another backend (the follower leaves it alone) in the app's own log, with ``media`` as its saved file."""
    from ui.services import get_studio

    log = get_studio().log
    row = log.add(idempotency_key=f"seed-{log.count()}", backend="elsewhere", model="grok-imagine", category="image",
                  prompt=prompt, params={})
    if media is not None:
        folder = get_studio().jobs.media_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"seed{row.id}-0.png"
        path.write_bytes(media)
        fields = {"media_paths": [str(path)], "result_urls": [f"https://cdn.example/{row.id}.png"], **fields}
    return log.update(row.id, status=status, **fields)


def test_the_card_says_when_the_service_offered_more_results(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    many = logged("succeeded", media=PNG, final_credits=4,
                  result_urls=[f"https://cdn.example/{n}.png" for n in range(25)])
    at = open_page("pages/image.py")
    notes = [c.value for c in at.caption if "offered" in c.value]
    assert notes == ["The service offered 25 results; the studio kept the first one."], many.id


# -- saved files that are not pictures ------------------------------------------------------------------------

# A PNG's signature (so it was saved as an image) and then nothing an image decoder can read.
NOT_A_PICTURE = b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 20


def cut_short() -> bytes:
    """A real PNG of 1200 x 900 pixels, cut in the middle of its pixel data: the header still reads."""
    out = io.BytesIO()
    Image.effect_noise((1200, 900), 50).convert("RGB").save(out, "PNG")
    return out.getvalue()[: len(out.getvalue()) // 2]


@pytest.mark.parametrize("media", [NOT_A_PICTURE, cut_short()], ids=["not-an-image", "cut-short"])
def test_a_saved_file_that_does_not_decode_shows_a_placeholder_everywhere(app_sandbox: Sandbox, media: bytes) -> None:
    open_page("pages/image.py")
    good = logged("succeeded", prompt="a good one", media=PNG, final_credits=4)
    bad = logged("succeeded", prompt="a broken one", media=media, final_credits=4)
    large = open_page("pages/gallery.py")
    large.query_params["job"] = str(bad.id)
    large.run()
    assert not large.exception, large.exception
    assert UNREADABLE in [w.value for w in large.warning]
    compared = AppTest.from_function(_compare_script, args=([good.id, bad.id],), default_timeout=30).run()
    assert not compared.exception, compared.exception
    assert UNREADABLE in [w.value for w in compared.warning] and len(compared.get("image")) == 1
    card = open_page("pages/image.py")  # the newest result, full size on its card
    assert UNREADABLE in [w.value for w in card.warning]
    tiles = open_page("pages/gallery.py")
    assert not tiles.exception, tiles.exception
    # The broken tile keeps a box of a preview's shape (ui/tiles.css, so the grid's rows line up), with no picture,
    # and says why it is empty; the good one has its picture.
    shown = tile_data(tiles)
    assert shown[bad.id]["src"] is None and shown[bad.id]["meta"] == "No preview of this result."
    assert shown[good.id]["src"] and shown[good.id]["meta"] != "No preview of this result."
    assert not open_page("pages/history.py").exception
    home = AppTest.from_file(APP, default_timeout=30).run()
    assert not home.exception and "No preview of this result." in [c.value for c in home.caption]


def _compare_script(job_ids: list[int]) -> None:
    from ui.compare import open_compare

    open_compare(job_ids)


# -- text from the service --------------------------------------------------------------------------------------


def test_a_status_from_the_service_shows_as_text_on_cards_and_in_history(app_sandbox: Sandbox) -> None:
    open_page("pages/image.py")
    logged(EVIL_STATUS, task_id="t-1")
    shown = md_escape(EVIL_STATUS.capitalize())
    for page in ("pages/image.py", "pages/history.py"):
        at = open_page(page)
        texts = [m.value for m in [*at.markdown, *at.caption]]
        assert not any("**x**" in t or "](http" in t or ":red[" in t for t in texts), page
        if page == "pages/image.py":
            assert any(shown in t or md_escape(EVIL_STATUS) in t for t in texts), page
    # History names it among its figures: an HTML row with every text escaped, which no Markdown renderer reads.
    assert f"{EVIL_STATUS.capitalize()}: 1" in figure_text(at)


def test_md_escape_breaks_every_address_markdown_would_link() -> None:
    text = "see https://evil.example/x, WWW.evil.example and ada@evil.example"
    escaped = md_escape(text)
    assert escaped.replace(WORD_JOINER, "").replace("\\", "") == text  # it still reads as typed
    for linked in ("://", "www.", "WWW.", "@evil"):
        assert linked not in escaped.replace("\\", ""), linked


# -- checking and previewing a reference ------------------------------------------------------------------------

_MEASURE = textwrap.dedent("""
    import json, resource, sys, threading
    from pathlib import Path
    from rivya.catalog import MODELS
    from rivya.errors import InvalidInputError
    from rivya.media import inspect_image
    from rivya.thumbnails import PREVIEW, thumbnail_bytes
    data = Path(sys.argv[1]).read_bytes()
    rule, outcomes = MODELS["grok-imagine"].reference, []
    def check():
        try:
            inspect_image(data, rule)
            outcomes.append("accepted" if thumbnail_bytes(data, PREVIEW) else "no preview")
        except InvalidInputError as exc:
            outcomes.append(" ".join(exc.problems))
    check()  # once alone first: imports and Pillow's own set-up are not counted below
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    threads = [threading.Thread(target=check) for _ in range(10)]
    for t in threads: t.start()
    for t in threads: t.join()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"grown_kb": grown, "outcomes": outcomes}))
""")


def peak_growth(data: bytes, tmp_path: Path) -> tuple[float, list[str]]:
    """MB the peak memory of a fresh process grows by while ten uploads of ``data`` are checked and previewed at once,
    and what each check said. A process of its own: Pillow's pixel buffers are not Python objects tracemalloc sees."""
    upload = tmp_path / "upload.bin"
    upload.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(upload)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["grown_kb"] / 1024, found["outcomes"]


def test_ten_huge_png_references_at_once_are_refused_without_decoding(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("P", (7000, 7000)).save(out, "PNG")  # a few KB on disk, 49 megapixels decoded
    grown, outcomes = peak_growth(out.getvalue(), tmp_path)
    assert len(outcomes) == 11 and all("7000×7000 pixels" in o and "JPEG" in o for o in outcomes), outcomes
    assert grown < 50, f"peak memory grew {grown:.0f} MB"


def test_ten_huge_jpeg_references_at_once_are_checked_and_previewed_at_a_reduced_scale(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.effect_noise((7000, 7000), 10).save(out, "JPEG", quality=70)  # 49 megapixels, 7 MB: a big camera's photo
    grown, outcomes = peak_growth(out.getvalue(), tmp_path)
    assert outcomes == ["accepted"] * 11
    # Decoded whole, each would take 49 MB (grey) at once, ten of them 490 MB; at 1/8 scale, under 1 MB each.
    assert grown < 100, f"peak memory grew {grown:.0f} MB"
