"""One signature table: every format the app accepts or refuses is named by ``sniffing.sniff``, and the client's
upload, the reference check and the result download all go by it."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rivya import InvalidInputError, RivyaClient, sniffing
from rivya.catalog import ReferenceRule
from rivya.download import MediaRefused, download_media
from rivya.media import inspect_image
from rivya.sandbox.server import STOP_POLL
from rivya.sniffing import Format

from .conftest import image_bytes
from .test_media import Site, serve, tiny_mp4

# One sample of each format's first bytes; the download and the client read no further than the signature.
SAMPLES: dict[Format, bytes] = {
    sniffing.PNG: image_bytes("PNG"),
    sniffing.JPEG: image_bytes("JPEG"),
    sniffing.GIF: image_bytes("GIF"),
    sniffing.WEBP: image_bytes("WEBP"),
    sniffing.AVIF: image_bytes("AVIF"),
    sniffing.HEIC: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
    sniffing.MP4: tiny_mp4(),
    sniffing.QUICKTIME: b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + b"\x00" * 64,
    sniffing.WEBM: b"\x1aE\xdf\xa3\x9fB\x86\x81\x01" + b"\x00" * 64,
    sniffing.MP3: b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 16,
    sniffing.AAC: b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 64,
    sniffing.OGG: b"OggS\x00\x02" + b"\x00" * 64,
    sniffing.WAV: b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64,
    sniffing.SVG: b'\n  <svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9"/></svg>',
    sniffing.XML: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>',
    sniffing.BMP: image_bytes("BMP"),
    sniffing.PDF: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"\x00" * 64,
}


def test_every_format_of_the_table_has_a_sample() -> None:
    """A format added to the table is added here too, so every check below covers it."""
    assert set(SAMPLES) == {value for value in vars(sniffing).values() if isinstance(value, Format)}


@pytest.mark.parametrize("expected", list(SAMPLES), ids=lambda f: f.mime)
def test_each_format_is_named_by_its_first_bytes(expected: Format) -> None:
    data = SAMPLES[expected]
    assert sniffing.sniff(data) == expected
    assert sniffing.sniff_head(data[: sniffing.HEAD_BYTES]) == expected.mime
    assert sniffing.describe_content(data) == expected.name


def test_unknown_bytes_are_named_plainly() -> None:
    assert sniffing.sniff(b"<!doctype html><p>Sign in</p>") is None
    assert sniffing.describe_content(b"<!doctype html><p>Sign in</p>") == "a text file"
    assert sniffing.describe_content(b"\x00\x01\x02 binary") == "not an image we recognise"


class UploadCatcher:
    """A real HTTP server on 127.0.0.1 (port 0) that answers ``POST /api/v1/files`` and keeps each file part's
    declared Content-Type."""

    def __init__(self) -> None:
        self.declared: list[str] = []
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                found = re.search(rb'filename="[^"]*"\r\nContent-Type: ([^\r]*)\r\n', body)
                catcher.declared.append(found.group(1).decode() if found else "")
                reply = json.dumps({"id": "file_1", "url": "https://files.example.org/file_1"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": STOP_POLL}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def catcher() -> Iterator[UploadCatcher]:
    server = UploadCatcher()
    yield server
    server.close()


def test_the_client_declares_an_upload_by_its_bytes(catcher: UploadCatcher) -> None:
    """Named ``upload.bin`` (a name says nothing), every upload is declared as the table names its content."""
    client = RivyaClient("rvya_sk_test_key", catcher.url, max_retries=0)
    for data in SAMPLES.values():
        client.upload_file(data, filename="upload.bin")
    assert catcher.declared == [f.mime for f in SAMPLES]
    client.upload_file(b"plain words", filename="notes.txt")  # no signature: the name is all there is
    assert catcher.declared[-1] == "text/plain"


@pytest.mark.parametrize("expected", list(SAMPLES), ids=lambda f: f.mime)
def test_the_reference_check_names_the_same_format(expected: Format) -> None:
    rule = ReferenceRule()
    if expected.mime in rule.mime_types:
        assert inspect_image(SAMPLES[expected], rule, name="ref").mime_type == expected.mime
        return
    with pytest.raises(InvalidInputError) as refused:
        inspect_image(SAMPLES[expected], rule, name="ref")
    assert f"ref is {expected.name}, not a JPEG, PNG, WEBP image" in str(refused.value)


def test_a_damaged_accepted_format_is_called_damaged() -> None:
    with pytest.raises(InvalidInputError, match="a PNG image that is damaged or cut short"):
        inspect_image(sniffing.PNG_SIGNATURE + b"\x00" * 100, ReferenceRule(), name="ref")


@pytest.mark.parametrize("expected", list(SAMPLES), ids=lambda f: f.mime)
def test_the_download_saves_by_the_same_format(expected: Format, site: Site, tmp_path: Path) -> None:
    """A result is saved under the table's extension, or refused when the table gives it none (a browser cannot
    show it) or it is not the kind of result asked for."""
    site.routes["/result"] = serve(SAMPLES[expected], "application/octet-stream")
    kind = expected.mime.split("/")[0]
    if expected.extension is not None:
        saved = download_media(site.url("/result"), tmp_path / "r", expected=kind, allow_private=True)
        assert saved.name == "r" + expected.extension
    elif kind in ("image", "video"):
        with pytest.raises(MediaRefused, match=f"the result is {re.escape(expected.mime)}, which a browser cannot show"):
            download_media(site.url("/result"), tmp_path / "r", expected=kind, allow_private=True)
    else:
        with pytest.raises(MediaRefused, match=f"the result is {re.escape(expected.mime)}, not image content"):
            download_media(site.url("/result"), tmp_path / "r", expected="image", allow_private=True)
