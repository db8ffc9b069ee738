"""Media helpers: checking reference images by content, result sizes, and saving results safely."""

from __future__ import annotations

import contextlib
import functools
import io
import ipaddress
import math
import os
import socket
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from PIL import Image, UnidentifiedImageError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import constants
from .catalog import ReferenceRule
from .errors import InvalidInputError, RivyaError

# Pillow's formats we accept, by the MIME type the reference names.
_PIL_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Anything larger is refused as a likely decompression bomb; real photos are far smaller. A JPEG is checked and
# previewed at 1/8 scale (``draft``), so this is all it is held to; a PNG or WebP can only be decoded whole, so it is
# held to ``constants.MAX_DECODED_PIXELS`` as well (a 142 KB PNG of 7000 x 7000 pixels decodes to 147 MB).
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


def _draft_eighth(img: Image.Image) -> None:
    """Ask a JPEG to decode at 1/8 scale (its decoder still reads and checks every byte); other formats ignore it."""
    img.draft(None, (max(1, img.width // 8), max(1, img.height // 8)))


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


_AV_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"ftypqt", 4, "video/quicktime"),
    (b"ftyp", 4, "video/mp4"),
    (b"\x1aE\xdf\xa3", 0, "video/webm"),
    (b"ID3", 0, "audio/mpeg"),
    (b"\xff\xfb", 0, "audio/mpeg"),
    (b"\xff\xf1", 0, "audio/aac"),
    (b"OggS", 0, "audio/ogg"),
)


# -- saving results ---------------------------------------------------------------------------
#
# A result "URL" is whatever string the service sends, so it is treated as hostile: only
# http(s), never a loopback/private address unless the API itself is local, every redirect
# re-checked, one deadline for the whole download, a size cap, and the type decided by the
# bytes. The API client's session (which carries the key) is never used here.

MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_SNIFF_BYTES = 64  # enough for every signature below, and for a whole ``ftyp`` box in practice

# Extension of a saved result, by the type its bytes were sniffed as (never the header or URL).
# Only types a browser can show: a HEIC result is recognised but refused, so Rivya's link is offered.
MEDIA_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/avif": ".avif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
}
# Signatures of the first bytes. A whole-file parse is not used: photos can carry hundreds of
# KB of metadata (ICC, C2PA) before the first pixel, and the type must be known from the start.
_HEAD_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    *_AV_SIGNATURES,
)


def _iso_media_type(head: bytes) -> str:
    """AVIF, HEIC, QuickTime or MP4, by the brands of an ``ftyp`` box (an AVIF may name ``mif1`` first)."""
    brands = head[8 : int.from_bytes(head[:4], "big")]  # major brand, minor version, compatible brands
    if b"avif" in brands or b"avis" in brands:
        return "image/avif"
    if any(brand in brands for brand in (b"heic", b"heix", b"mif1", b"msf1")):
        return "image/heic"
    return "video/quicktime" if brands.startswith(b"qt") else "video/mp4"


def sniff_head(head: bytes) -> str | None:
    """The MIME type the first bytes of a file announce, or None if they match no known signature."""
    if head[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav"}.get(head[8:12])
    if head[4:8] == b"ftyp":
        return _iso_media_type(head)
    for magic, offset, mime in _HEAD_SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return mime
    return None


class MediaRefused(RivyaError):
    """A result link or its content broke a rule (scheme, address, type, size): trying again cannot help."""


class MediaFetchFailed(RivyaError):
    """A result could not be fetched (unreachable, an HTTP error, too slow): a later try may work."""


def shown_url(url: object) -> str:
    """Scheme, host and path only, for messages and logs: result links may carry signed tokens."""
    if not isinstance(url, str):
        return f"(not a link: {type(url).__name__})"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "(unreadable link)"
    text = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else parts.path
    return text[:80]


def _address_refusal(address: str, *, allow_private: bool) -> str | None:
    """Why a connection to ``address`` is refused, or None if it is allowed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope (``fe80::1%eth0``) is not part of the address
    if isinstance(ip, ipaddress.IPv6Address):
        ip = ip.ipv4_mapped or ip.sixtofour or ip  # ``::ffff:127.0.0.1`` is 127.0.0.1
    # Never, even for a local API: 169.254.169.254 is a cloud metadata service; 0.0.0.0 reaches this host.
    if ip.is_unspecified or ip.is_link_local or ip.is_multicast or (ip.is_reserved and not ip.is_loopback):
        return "a link-local, multicast or reserved address"
    if not ip.is_global and not allow_private:
        return "a private or loopback address"
    return None


def _resolve(url: str) -> tuple[str, list[str]]:
    """Host and every address it resolves to, or MediaRefused for anything but an http(s) link with a host."""
    if not isinstance(url, str):
        raise MediaRefused(f"the result link is {shown_url(url)}; not fetched")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise MediaRefused(f"the result link {shown_url(url)} cannot be read; not fetched") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise MediaRefused(f"the result link {shown_url(url)} is not an http(s) link; not fetched")
    try:
        infos = socket.getaddrinfo(host, port or (443 if parts.scheme.lower() == "https" else 80), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise MediaFetchFailed(f"the host of {shown_url(url)} could not be found") from None
    return host, [str(info[4][0]) for info in infos]


def is_private_url(url: str) -> bool:
    """True when every address the link's host resolves to is loopback or private (a local API)."""
    try:
        _, addresses = _resolve(url)
    except RivyaError:
        return False
    return bool(addresses) and all(_address_refusal(a, allow_private=False) for a in addresses)


def _check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a link before connecting: the scheme, then every address its host resolves to."""
    _, addresses = _resolve(url)
    for address in addresses:
        problem = _address_refusal(address, allow_private=allow_private)
        if problem:
            raise MediaRefused(f"the result link {shown_url(url)} points to {problem}; not fetched")


class _Guard:
    """One download's rules, enforced on every socket it opens.

    The address is checked again on the socket itself once connected, so a name that resolves
    to a public address for ``_check_url`` and to a private one a moment later (DNS rebinding)
    is still refused. The deadline is enforced by shutting the open sockets down from a timer:
    a per-read timeout cannot stop a server that drips one byte just before each one expires.
    """

    def __init__(self, *, allow_private: bool, deadline_seconds: float) -> None:
        self.allow_private = allow_private
        self.deadline_seconds = deadline_seconds
        self.ends_at = time.monotonic() + deadline_seconds
        self.expired = False
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(deadline_seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in another thread

    def stop(self) -> None:
        self._timer.cancel()

    def connected(self, sock: socket.socket, host: str) -> None:
        """Called with each new socket before any byte is sent on it."""
        with self._lock:
            if self.expired:
                sock.close()
                raise self.too_slow()
            try:
                problem = _address_refusal(sock.getpeername()[0], allow_private=self.allow_private)
            except (OSError, ValueError):
                problem = "an address that cannot be checked"
            if problem:
                sock.close()
                raise MediaRefused(f"the connection to {host[:60]} reached {problem}; not fetched")
            self._sockets.append(sock)
            self.connections += 1

    def timeout(self) -> tuple[float, float]:
        """Per-step timeouts for the next request, never past the deadline."""
        left = max(0.1, self.ends_at - time.monotonic())
        return min(constants.CONNECT_TIMEOUT, left), min(constants.READ_TIMEOUT, left)

    def too_slow(self) -> MediaFetchFailed:
        return MediaFetchFailed(f"the result took longer than {self.deadline_seconds:g} s to download; not saved")

    def failure(self, url: str, exc: BaseException) -> MediaFetchFailed:
        """The typed error for a transport failure; the exception's own text (with the full link) is dropped."""
        return self.too_slow() if self.expired else MediaFetchFailed(f"could not fetch {shown_url(url)} ({type(exc).__name__})")


def _checked_adapter(guard: _Guard) -> HTTPAdapter:
    """A transport whose every new connection is checked by ``guard`` as soon as it is open."""

    def checked(base: type[HTTPConnection]) -> type[HTTPConnection]:
        class Checked(base):  # type: ignore[valid-type, misc]
            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                guard.connected(sock, self.host)
                return sock

        return Checked

    adapter = HTTPAdapter(max_retries=0)
    adapter.poolmanager.pool_classes_by_scheme = {
        "http": type("CheckedPool", (HTTPConnectionPool,), {"ConnectionCls": checked(HTTPConnection)}),
        "https": type("CheckedPool", (HTTPSConnectionPool,), {"ConnectionCls": checked(HTTPSConnection)}),
    }
    return adapter


def _open(session: requests.Session, url: str, guard: _Guard, *, allow_private: bool) -> requests.Response:
    """GET ``url``, following redirects by hand so that every hop is checked; the final 2xx reply, streaming."""
    for _ in range(MAX_REDIRECTS + 1):
        _check_url(url, allow_private=allow_private)
        try:
            # identity: a compressed body could unpack far past the size cap; media are not compressed on the wire.
            response = session.get(
                url, stream=True, allow_redirects=False, timeout=guard.timeout(), headers={"Accept-Encoding": "identity"}
            )
        except requests.RequestException as exc:
            raise guard.failure(url, exc) from None
        location = response.headers.get("Location")
        if response.status_code in _REDIRECT_STATUSES and location:
            response.close()
            url = urljoin(url, location)
            continue
        # Any 2xx but 206: a partial reply to a request that asked for no range would save a cut file.
        if not 200 <= response.status_code < 300 or response.status_code == 206:
            response.close()
            raise MediaFetchFailed(f"{shown_url(url)} answered HTTP {response.status_code}; not saved")
        if guard.connections == 0:  # the connection check did not run (a urllib3 change): fail closed
            response.close()
            raise MediaRefused("the address of the result link could not be checked; not fetched")
        return response
    raise MediaRefused(f"the result link redirected more than {MAX_REDIRECTS} times; not fetched")


def _write(response: requests.Response, dest_stem: Path, guard: _Guard, *, expected: str, max_bytes: int) -> Path:
    """Stream the body to a temporary file, sniff its first bytes, and rename it to stem + sniffed extension."""
    declared = response.headers.get("Content-Length", "")
    too_large = f"the result is larger than {max_bytes / 2**20:g} MB; not saved"
    if declared.isdigit() and int(declared) > max_bytes:
        raise MediaRefused(too_large)
    dest_stem.parent.mkdir(parents=True, exist_ok=True)
    fd, part_name = tempfile.mkstemp(dir=dest_stem.parent, prefix=f"{dest_stem.name}.", suffix=".part")
    partial = Path(part_name)
    head, written, dest = b"", 0, None
    try:
        with os.fdopen(fd, "wb") as fh:
            try:
                for chunk in response.raw.stream(_CHUNK, decode_content=False):
                    written += len(chunk)
                    if written > max_bytes:
                        raise MediaRefused(too_large)
                    if dest is None and len(head) < _SNIFF_BYTES:
                        head += chunk
                        if len(head) >= _SNIFF_BYTES:
                            dest = _destination(head, dest_stem, expected)
                    fh.write(chunk)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise guard.failure(response.url, exc) from None
            if guard.expired:  # the deadline shut the socket: what arrived is cut short
                raise guard.too_slow()
            dest = dest or _destination(head, dest_stem, expected)
            fh.flush()
            os.fsync(fh.fileno())
        partial.replace(dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest


def _destination(head: bytes, dest_stem: Path, expected: str) -> Path:
    """Where the file goes, named by what its first bytes are; MediaRefused if they are not ``expected``."""
    if not head:
        raise MediaRefused("the result is empty; not saved")
    mime = sniff_head(head)
    if mime is None:
        raise MediaRefused(f"the result is {describe_content(head)}, not {expected} content; not saved")
    if not mime.startswith(f"{expected}/"):
        raise MediaRefused(f"the result is {mime}, not {expected} content; not saved")
    if mime not in MEDIA_EXTENSIONS:
        raise MediaRefused(f"the result is {mime}, which a browser cannot show; not saved")
    return dest_stem.with_name(dest_stem.name + MEDIA_EXTENSIONS[mime])


def download_media(
    url: str,
    dest_stem: Path,
    *,
    expected: str,
    allow_private: bool,
    max_bytes: int = constants.MEDIA_MAX_BYTES,
    deadline_seconds: float = constants.MEDIA_DEADLINE_SECONDS,
) -> Path:
    """Save one result link to ``dest_stem`` + the extension its content is sniffed as; returns the path.

    ``expected`` is ``"image"`` or ``"video"``. ``allow_private`` lets the link reach loopback and
    private addresses; pass True only when the API base URL is itself local (the sandbox).
    Any Content-Type is accepted (``*/octet-stream``, none, a wrong one): the bytes decide.
    Raises ``MediaRefused`` (a rule was broken) or ``MediaFetchFailed`` (may work later); the
    file appears under its final name only when complete. A fresh session per call: no key,
    no cookies and, on purpose, no proxy from the environment (the address checked must be
    the one connected to). The deadline covers connecting, redirects and the body; the name
    lookup before each hop is bounded by the system resolver's own timeout.
    """
    guard = _Guard(allow_private=allow_private, deadline_seconds=deadline_seconds)
    try:
        with requests.Session() as session:
            session.trust_env = False  # no proxies, no ~/.netrc credentials
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            adapter = _checked_adapter(guard)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            with _open(session, url, guard, allow_private=allow_private) as response:
                return _write(response, dest_stem, guard, expected=expected, max_bytes=max_bytes)
    finally:
        guard.stop()


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


THUMBNAIL_SIZE = (160, 160)


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
        elif result_image_size(path) is None:
            return None
        else:
            image = Image.open(path)
            image.draft("RGB", THUMBNAIL_SIZE)
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


PREVIEW_SIZE = (320, 320)


def preview_jpeg(data: bytes, size: tuple[int, int] = PREVIEW_SIZE) -> bytes | None:
    """A small JPEG of an image, for showing an upload without re-sending the original on every rerun."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "JPEG" and img.width * img.height > constants.MAX_DECODED_PIXELS:
                return None  # only a JPEG decodes at a reduced scale; the check refuses such a reference anyway
            img.draft("RGB", size)  # JPEG: decode at a reduced scale, far cheaper for big photos
            img.thumbnail(size)  # shrinks the decoded image itself, before any copy in another mode
            small = img.convert("RGB")
        out = io.BytesIO()
        small.save(out, "JPEG", quality=85)
        return out.getvalue()
    except Exception:
        return None
