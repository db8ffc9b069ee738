"""The SSRF-safe download of a result: a hostile link is fetched by rules, and saved under the name its bytes earn."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from . import constants
from .constants import MEDIA_MAX_REDIRECTS
from .errors import RivyaError
from .sniffing import HEAD_BYTES, describe_content, sniff

# A result "URL" is whatever string the service sends, so it is treated as hostile: only
# http(s), never a loopback/private address unless the API itself is local, every redirect
# re-checked, one deadline for the whole download, a size cap, and the type decided by the
# bytes. The API client's session (which carries the key) is never used here.

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


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
    for _ in range(MEDIA_MAX_REDIRECTS + 1):
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
    raise MediaRefused(f"the result link redirected more than {MEDIA_MAX_REDIRECTS} times; not fetched")


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
                    if dest is None and len(head) < HEAD_BYTES:
                        head += chunk
                        if len(head) >= HEAD_BYTES:
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
    found = sniff(head)
    if found is None:
        raise MediaRefused(f"the result is {describe_content(head)}, not {expected} content; not saved")
    if not found.mime.startswith(f"{expected}/"):
        raise MediaRefused(f"the result is {found.mime}, not {expected} content; not saved")
    if found.extension is None:
        raise MediaRefused(f"the result is {found.mime}, which a browser cannot show; not saved")
    return dest_stem.with_name(dest_stem.name + found.extension)


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
