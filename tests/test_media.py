"""Result media are fetched as hostile input and only files saved under the media folder are ever shown."""

from __future__ import annotations

import contextlib
import io
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from rivya.download import MediaFetchFailed, MediaRefused, download_media, is_private_url
from rivya.media import saved_media
from rivya.sandbox import Sandbox
from rivya.sandbox.server import STOP_POLL
from rivya.tasklog import TaskLog
from rivya.thumbnails import CARD, PREVIEW, thumbnail, thumbnail_bytes

from .conftest import FAST_TIMING, image_bytes

PNG = image_bytes("PNG", (32, 24), "red")
JPEG = image_bytes("JPEG", (32, 24), "blue")
AVIF = image_bytes("AVIF", (32, 24), "green")
# An AVIF whose major brand is the generic ``mif1`` (as some encoders write): still an AVIF.
AVIF_MIF1 = AVIF[:8] + b"mif1" + AVIF[12:]


def tiny_mp4() -> bytes:
    """A real three-frame MP4 made here with PyAV."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        container.mux(stream.encode())
    return out.getvalue()


HTML = b"<!doctype html><html><body>Sign in to continue</body></html>"

Route = Callable[[BaseHTTPRequestHandler], None]


class Site:
    """A real HTTP server on 127.0.0.1 (port 0); each test sets its routes, every request is recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append((self.path, dict(self.headers)))
                route = site.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                    return
                with contextlib.suppress(OSError):  # the client hung up, as it should on a refused or too slow reply
                    route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": STOP_POLL}, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(body: bytes, content_type: str | None, *, length: bool = True) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        if content_type:
            handler.send_header("Content-Type", content_type)
        if length:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return route


def redirect(location: str, status: int = 302) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


DRIP_GAP = 0.5  # seconds between bytes: the whole reply would take about a minute


def drip(*, headers_too: bool) -> Route:
    """One byte at a time, each well within any per-read timeout: only a wall-clock deadline stops it."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n"
        if not headers_too:
            handler.wfile.write(head)
            head = b""
        for byte in head + PNG * 2:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(DRIP_GAP)

    return route


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# -- where a result may come from ------------------------------------------------------------


def test_private_addresses_are_refused_before_connecting(site: Site, tmp_path: Path) -> None:
    site.routes["/r.png"] = serve(PNG, "image/png")
    for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
        with pytest.raises(MediaRefused, match="private or loopback"):
            download_media(site.url("/r.png", host), tmp_path / "r", expected="image", allow_private=False)
    assert site.hits == [] and files_in(tmp_path) == []
    # A local API (the sandbox) may fetch from its own host; the lead's follower decides with is_private_url.
    assert download_media(site.url("/r.png"), tmp_path / "r", expected="image", allow_private=True).name == "r.png"
    assert is_private_url(site.url("/")) and is_private_url(site.url("/", "localhost"))
    assert not is_private_url("https://93.184.216.34/x.png") and not is_private_url("file:///etc/passwd")


def test_metadata_and_unspecified_addresses_are_refused_even_for_a_local_api(site: Site, tmp_path: Path) -> None:
    site.routes["/r.png"] = serve(PNG, "image/png")
    for url in ("http://169.254.169.254/latest/meta-data/", site.url("/r.png", "0.0.0.0"), "http://[fe80::1]/x"):
        with pytest.raises(MediaRefused, match="link-local, multicast or reserved"):
            download_media(url, tmp_path / "r", expected="image", allow_private=True)
    assert site.hits == [] and files_in(tmp_path) == []


def test_every_redirect_hop_is_checked(site: Site, tmp_path: Path) -> None:
    site.routes["/r.png"] = serve(PNG, "image/png")
    site.routes["/moved"] = redirect("/r.png", 301)
    site.routes["/to-file"] = redirect("file:///etc/passwd")
    site.routes["/to-metadata"] = redirect("http://169.254.169.254/latest/meta-data/iam", 307)
    site.routes["/to-zero"] = redirect(site.url("/r.png", "0.0.0.0"), 308)
    site.routes["/loop"] = redirect("/loop")
    assert download_media(site.url("/moved"), tmp_path / "ok", expected="image", allow_private=True).read_bytes() == PNG
    site.hits.clear()
    cases = {"/to-file": "not an http", "/to-metadata": "link-local", "/to-zero": "link-local", "/loop": "more than 5"}
    for path, refusal in cases.items():
        with pytest.raises(MediaRefused, match=refusal):
            download_media(site.url(path), tmp_path / "x", expected="image", allow_private=True)
    assert [p for p, _ in site.hits] == ["/to-file", "/to-metadata", "/to-zero"] + ["/loop"] * 6  # never /r.png
    assert files_in(tmp_path) == ["ok.png"]


def test_a_name_that_rebinds_to_a_private_address_is_refused_at_connect(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hostile DNS server cannot run here, so the resolver plays one: the first answer (the one
    # checked before connecting) is public, every later one (the one connected to) is this host.
    real, answers = socket.getaddrinfo, []

    def rebinding(host: str, *args: object, **kwargs: object) -> list:
        if host == "cdn.rebind.example":
            answers.append(host)
            host = "93.184.216.34" if len(answers) == 1 else "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    site.routes["/r.png"] = serve(PNG, "image/png")
    url = site.url("/r.png", "cdn.rebind.example")
    with pytest.raises(MediaRefused, match=r"connection to cdn\.rebind\.example reached a private"):
        download_media(url, tmp_path / "r", expected="image", allow_private=False)
    assert site.hits == [] and files_in(tmp_path) == []
    answers.clear()  # control: the same link is fetched when private addresses are allowed
    assert download_media(url, tmp_path / "r", expected="image", allow_private=True).name == "r.png"


_OPENED: list[str] = []
_RECORDING = threading.Event()
_HOOKED: list[bool] = []  # audit hooks cannot be removed: add this one once, it records only while _RECORDING is set


def _record_opens(event: str, args: tuple) -> None:
    if _RECORDING.is_set() and event in ("open", "os.listdir", "os.scandir"):
        _OPENED.append(str(args[0]))


def test_links_that_are_not_http_never_touch_the_file_system(tmp_path: Path) -> None:
    if not _HOOKED:
        sys.addaudithook(_record_opens)
        _HOOKED.append(True)
    links = ["file:///etc/passwd", "/proc/self/environ", "../../etc/passwd", "ftp://example.com/r", "data:image/png;base64,AA"]
    _OPENED.clear()
    _RECORDING.set()
    try:
        for link in [*links, None, 7]:
            with pytest.raises(MediaRefused):
                download_media(link, tmp_path / "r", expected="image", allow_private=True)  # type: ignore[arg-type]
    finally:
        _RECORDING.clear()
    assert _OPENED == [] and files_in(tmp_path) == []


# -- how long and how much -------------------------------------------------------------------


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_dripping_server_is_cut_at_the_deadline(site: Site, tmp_path: Path, headers_too: bool) -> None:
    site.routes["/drip"] = drip(headers_too=headers_too)
    started = time.monotonic()
    with pytest.raises(MediaFetchFailed, match=r"longer than 1\.5 s"):
        download_media(site.url("/drip"), tmp_path / "d", expected="image", allow_private=True, deadline_seconds=1.5)
    took = time.monotonic() - started
    assert 1.4 < took < 3.0, took  # the drip itself would take a minute; each byte comes well within a read timeout
    assert files_in(tmp_path) == []


def test_results_larger_than_the_cap_are_refused(site: Site, tmp_path: Path) -> None:
    def declared_huge(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", str(10**12))
        handler.end_headers()
        handler.wfile.write(PNG)
        handler.wfile.flush()
        time.sleep(5)  # the rest never comes: only a refusal by the declared size ends this quickly

    site.routes["/declared"] = declared_huge
    site.routes["/chunked"] = serve(PNG + b"\x00" * 5000, "image/png", length=False)
    for path in ("/declared", "/chunked"):
        started = time.monotonic()
        with pytest.raises(MediaRefused, match="larger than"):
            download_media(site.url(path), tmp_path / "b", expected="image", allow_private=True, max_bytes=4096)
        assert time.monotonic() - started < 1.0, path
    assert files_in(tmp_path) == []


# -- what a result is ------------------------------------------------------------------------


def test_the_content_decides_the_type_and_the_name(site: Site, tmp_path: Path) -> None:
    site.routes["/octet"] = serve(PNG, "binary/octet-stream")
    site.routes["/none"] = serve(JPEG, None, length=False)
    site.routes["/photo.webp"] = serve(JPEG, "image/webp")
    site.routes["/png-as-mp4"] = serve(PNG, "video/mp4")
    site.routes["/clip"] = serve(tiny_mp4(), "application/octet-stream")
    site.routes["/avif"] = serve(AVIF_MIF1, "application/octet-stream")

    def fetch(path: str, stem: str, expected: str = "image") -> Path:
        return download_media(site.url(path) + "?sig=SECRET", tmp_path / stem, expected=expected, allow_private=True)

    assert fetch("/octet", "a").name == "a.png" and (tmp_path / "a.png").read_bytes() == PNG
    assert fetch("/none", "b").name == "b.jpg"
    assert fetch("/photo.webp", "c").name == "c.jpg"  # neither the header nor the URL names the file
    assert fetch("/png-as-mp4", "d").name == "d.png"
    assert fetch("/clip", "e", "video").name == "e.mp4"
    assert fetch("/avif", "f").name == "f.avif"
    assert all("Authorization" not in headers and "Cookie" not in headers for _, headers in site.hits)
    assert all(thumbnail(tmp_path / name, CARD) for name in ("a.png", "b.jpg", "e.mp4", "f.avif"))


def test_content_of_another_kind_is_refused(site: Site, tmp_path: Path) -> None:
    site.routes["/login.png"] = serve(HTML, "image/png")
    site.routes["/still"] = serve(PNG, "video/mp4")
    with pytest.raises(MediaRefused, match="a text file, not image content") as refused:
        download_media(site.url("/login.png") + "?token=SECRET", tmp_path / "h", expected="image", allow_private=True)
    with pytest.raises(MediaRefused, match="image/png, not video content"):
        download_media(site.url("/still"), tmp_path / "v", expected="video", allow_private=True)
    site.routes["/empty"] = serve(b"", "image/png")
    with pytest.raises(MediaRefused, match="empty"):
        download_media(site.url("/empty"), tmp_path / "e", expected="image", allow_private=True)
    assert files_in(tmp_path) == []
    site.routes["/gone"] = lambda h: h.send_error(404)
    with pytest.raises(MediaFetchFailed, match="HTTP 404") as failed:
        download_media(site.url("/gone") + "?token=SECRET", tmp_path / "g", expected="image", allow_private=True)
    assert "SECRET" not in str(refused.value) and "SECRET" not in str(failed.value)  # signed links stay out of messages


# -- what may be shown -----------------------------------------------------------------------


def test_saved_media_only_returns_regular_files_inside_the_media_dir(tmp_path: Path) -> None:
    media = tmp_path / "media"
    (media / "sub").mkdir(parents=True)
    (media / "ok.png").write_bytes(PNG)
    (tmp_path / "outside.png").write_bytes(PNG)
    (media / "to-etc.png").symlink_to("/etc/passwd")
    (media / "to-outside.png").symlink_to(tmp_path / "outside.png")
    (media / "to-ok.png").symlink_to(media / "ok.png")
    assert saved_media(str(media / "ok.png"), media) == (media / "ok.png").resolve()
    assert saved_media(str(media / "to-ok.png"), media) == (media / "ok.png").resolve()
    refused = [
        "/proc/self/environ",
        "/etc/passwd",
        str(media / ".." / "outside.png"),
        str(media / "sub" / ".." / ".." / "outside.png"),
        str(media / "to-etc.png"),
        str(media / "to-outside.png"),
        str(media / "sub"),
        str(media),
        str(media / "missing.png"),
        "file:///etc/passwd",
        "bad\x00name",
        "",
        None,
    ]
    assert [p for p in refused if saved_media(p, media) is not None] == []
    assert saved_media(str(media / "ok.png"), tmp_path / "no-such-dir") is None


@pytest.fixture
def local_app(point_app: Callable[[str, str], Path]) -> Iterator[None]:
    with Sandbox(timing=FAST_TIMING) as sandbox:
        point_app(sandbox.url, sandbox.api_key)
        yield


def _media_dir_script() -> None:
    import streamlit as st

    from ui.services import get_studio

    st.text(str(get_studio().jobs.media_dir))


def _show_media_script(jobs: list) -> None:  # the body runs as a script: no imported names in the signature
    import streamlit as st

    from ui.actions import result_download
    from ui.jobs_view import show_media

    for job in jobs:
        with st.container(key=f"case-{job.prompt}"):
            show_media(job)
            result_download(job, key=f"test:download:{job.id}")


def test_show_media_shows_only_saved_files_and_never_raises(local_app: None, tmp_path: Path) -> None:
    probe = AppTest.from_function(_media_dir_script, default_timeout=30)
    probe.run()
    media = Path(probe.text[0].value)
    media.mkdir(parents=True, exist_ok=True)
    (media / "ok.png").write_bytes(PNG)
    (media / "damaged.png").write_bytes(b"not an image at all")  # st.image raises on these bytes
    link = "https://cdn.example/r.png?sig=1"
    cases = {  # name: (category, media_paths, result_urls, media_error)
        "environ": ("video", ["/proc/self/environ"], ["/proc/self/environ"], None),
        "environ-image": ("image", ["/proc/self/environ"], ["/proc/self/environ"], None),
        "file-link": ("image", [], ["file:///etc/passwd"], "not an http(s) link"),
        "saving": ("image", [], [link], None),
        "unsaved": ("image", [], [link], "HTTP 404"),
        "damaged": ("image", [str(media / "damaged.png")], [link], None),
        "saved": ("image", [str(media / "ok.png")], ["/proc/self/environ"], None),
    }
    log = TaskLog(tmp_path / "cases.sqlite3")
    jobs = []
    for name, (category, paths, urls, problem) in cases.items():
        model = "grok-imagine-video" if category == "video" else "grok-imagine"
        job = log.add(idempotency_key=name, backend="test", model=model, category=category, prompt=name, params={})
        jobs.append(log.update(job.id, status="succeeded", media_paths=paths, result_urls=urls, media_error=problem))
    log.close()
    at = AppTest.from_function(_show_media_script, args=(jobs,), default_timeout=30)
    at.run()
    assert not at.exception
    blocks = {block.key: block for block in at.main.children.values()}

    def shown(name: str, kind: str) -> list:
        return list(blocks[f"case-{name}"].get(kind))

    for name in cases:
        assert len(shown(name, "image") + shown(name, "video")) == (name == "saved"), name
        assert len(shown(name, "link_button")) == (name == "unsaved"), name
        assert len(shown(name, "download_button")) == (name == "saved"), name
    assert shown("unsaved", "link_button")[0].proto.url == link
    assert "being saved" in shown("saving", "info")[0].value
    for name in ("environ", "environ-image", "file-link", "unsaved", "damaged"):
        assert shown(name, "warning"), name


def test_a_reference_preview_is_small_whatever_the_upload() -> None:
    big = io.BytesIO()
    Image.effect_noise((4000, 3000), 64).convert("RGB").save(big, "JPEG", quality=95)
    preview = thumbnail_bytes(big.getvalue(), PREVIEW)
    assert preview is not None and len(preview) < len(big.getvalue()) // 20
    with Image.open(io.BytesIO(preview)) as small:
        assert max(small.size) <= 320
    assert thumbnail_bytes(b"not an image", PREVIEW) is None
