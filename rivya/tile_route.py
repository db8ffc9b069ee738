"""The Gallery's tile pictures as a route of the app: ``GET /tiles/<digest>.jpg``.

The Gallery draws its tiles in the browser from a list (``ui/tiles.py``), not as one ``st.image`` each, so their
pictures need addresses of their own. As ``st.image``'s, an address is the SHA-256 of the picture's bytes, made only
by the server for a tile it is drawing, and answered only for pictures it made one for (kept here, the newest
``TILES_KEPT``): never a file by name. So identical pictures share one address, which the browser fetches once and
keeps (a digest names its bytes for ever: ``immutable``).

The list is the process's own: behind a load balancer, a page's requests must reach the replica that drew it, which
Streamlit's websocket and ``/media`` already require. After a restart, an open page's old addresses answer 404
until it is drawn again (a reconnecting page is).
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
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
        stat = shown.stat()
        digest = _digest(str(shown), stat.st_size, stat.st_mtime_ns)
    except OSError:
        return None
    with _lock:
        _made[digest] = str(shown)
        _made.move_to_end(digest)
        while len(_made) > TILES_KEPT:
            _made.popitem(last=False)
    return f"{PREFIX}{digest}.jpg"


def tile_route(base_path: str = "") -> Route:
    """The route, under ``base_path`` (Streamlit's ``server.baseUrlPath``)."""

    async def picture(request: Request) -> Response:
        with _lock:
            path = _made.get(request.path_params["digest"])
        if path is None or not Path(path).is_file():
            return PlainTextResponse("Not found.", 404)
        return FileResponse(path, media_type="image/jpeg", headers=KEPT)

    root = base_path.strip("/")
    return Route(f"/{root + '/' if root else ''}{PREFIX}{{digest}}.jpg", picture, methods=["GET", "HEAD"])
