"""The tile pictures' route (``rivya/tile_route.py``): an address only for a thumbnail drawn, only its own bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from starlette.routing import Route

from rivya.tile_route import tile_address, tile_route

from .test_page_route import get


def answer(route: Route, path: str) -> tuple[int, bytes]:
    """What the route answers a GET of ``path`` (404 where it does not match, as the server would)."""
    response = get([route], path)
    return (404, b"") if response is None else (response.status_code, response.body)


def test_a_drawn_thumbnail_is_served_under_the_base_path_by_its_digest_only(tmp_path: Path) -> None:
    media = tmp_path / "media"
    (media / "thumbs").mkdir(parents=True)
    thumb = media / "thumbs" / "1-0.png.jpg"
    thumb.write_bytes(b"\xff\xd8 a thumbnail")
    address = tile_address(thumb, media)
    assert address == f"tiles/{hashlib.sha256(thumb.read_bytes()).hexdigest()}.jpg"
    route = tile_route("/studio")
    assert answer(route, f"/studio/{address}") == (200, thumb.read_bytes())
    assert answer(route, f"/{address}")[0] == 404  # only under the base path
    assert answer(route, f"/studio/tiles/{'0' * 64}.jpg")[0] == 404  # no address made for it
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"not for the page")
    assert tile_address(outside, media) is None  # a file outside the media folder gets no address


def test_a_thumbnail_rewritten_or_swapped_for_a_link_after_it_was_drawn_is_not_served(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"private")
    route = tile_route()
    for change in ("rewrite", "link", "pipe"):
        thumb = media / f"{change}.jpg"
        thumb.write_bytes(f"\xff\xd8 {change}".encode())
        address = tile_address(thumb, media)
        assert address is not None and answer(route, f"/{address}")[0] == 200
        if change == "rewrite":
            thumb.write_bytes(b"\xff\xd8 other bytes")
        else:
            thumb.unlink()
            if change == "link":
                thumb.symlink_to(secret)
            else:
                os.mkfifo(thumb)  # read, it would wait for a writer for ever
        assert answer(route, f"/{address}")[0] == 404, change
