"""The Gallery's tile pictures as a route of the app: ``GET /tiles/<digest>.jpg``.

The Gallery draws its tiles in the browser from a list (``ui/tiles.py``), not as one ``st.image`` each, so their
pictures need addresses of their own. As ``st.image``'s, an address is the SHA-256 of the picture's bytes, made only
by the server for a tile it is drawing, and answered only for pictures it made one for (kept here, the newest
``TILES_KEPT``): never a file by name. So identical pictures share one address, which the browser fetches once and
keeps (a digest names its bytes for ever: ``immutable``). Each answer is checked against its digest, so a thumbnail
rewritten (or swapped for a link) after it was drawn is never served under the old address.

The list is the process's own: behind a load balancer, a page's requests must reach the replica that drew it, which
Streamlit's websocket and ``/media`` already require. After a restart, an open page's old addresses answer 404
until it is drawn again (a reconnecting page is). Unlike ``/media``'s, an address outlives its session: it is kept
until newer ones push it out, and it names only a thumbnail that whoever holds the address was shown.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import stat
import threading
from collections import OrderedDict
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .constants import TILES_KEPT
from .media import saved_media

PREFIX = "tiles/"  # the route's address under the app's root; a page's tile addresses are relative to it
KEPT = {"Cache-Control": "private, max-age=31536000, immutable"}
_made: OrderedDict[str, str] = OrderedDict()  # digest -> the thumbnail's resolved path
_lock = threading.Lock()  # script threads add, the server's loop reads


@functools.lru_cache(maxsize=TILES_KEPT)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """The SHA-256 of one version of a file (its size and mtime are part of the key): read once."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tile_address(thumbnail: Path, media_dir: Path) -> str | None:
    """The address a page loads this thumbnail from (relative to the page, which lies under the app's root), or None
    if it is not a file inside the media folder, or cannot be read."""
    shown = saved_media(str(thumbnail), media_dir)
    if shown is None:
        return None
    try:
        info = shown.stat()
        digest = _digest(str(shown), info.st_size, info.st_mtime_ns)
    except OSError:
        return None
    with _lock:
        _made[digest] = str(shown)
        _made.move_to_end(digest)
        while len(_made) > TILES_KEPT:
            _made.popitem(last=False)
    return f"{PREFIX}{digest}.jpg"


def _read(path: str, limit: int = 1 << 20) -> bytes | None:
    """A thumbnail's bytes (a few KB; at most ``limit``), or None unless it is still a regular file, not a link: what
    is at the path now is read without following a link or waiting on a pipe (its digest is checked after)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        try:
            return fh.read(limit) if stat.S_ISREG(os.fstat(fd).st_mode) else None
        except OSError:
            return None


def tile_route(prefix: str = "") -> Route:
    """The route, under ``prefix`` (``""`` or ``"/<root>"``: Streamlit's ``server.baseUrlPath``)."""

    async def picture(request: Request) -> Response:
        digest = request.path_params["digest"]
        with _lock:
            path = _made.get(digest)
        data = await asyncio.to_thread(_read, path) if path is not None else None
        # Only the bytes the address names: a file rewritten, or swapped for a link, since it was drawn is not served.
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            return PlainTextResponse("Not found.", 404)
        return Response(data, media_type="image/jpeg", headers=KEPT)

    return Route(f"{prefix}/{PREFIX}{{digest}}.jpg", picture, methods=["GET", "HEAD"])
