"""One thumbnail maker with named sizes: each size's box and place, and thumbnails already on disk kept as they are."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from rivya.thumbnails import BACKGROUND, CARD, CELL, PREVIEW, THUMBS_DIR, TILE, Size, shown_thumbnail, thumbnail, thumbnail_bytes

from .conftest import image_bytes


@pytest.fixture
def wide_result(tmp_path: Path) -> Path:
    """A saved 2:1 result in a media folder, as the follower names one."""
    result = tmp_path / "media" / "7-0.png"
    result.parent.mkdir()
    result.write_bytes(image_bytes("PNG", (1200, 600), "purple"))
    return result


def size_of(source: Path | bytes) -> tuple[int, int]:
    with Image.open(source if isinstance(source, Path) else io.BytesIO(source)) as image:
        assert image.format == "JPEG"
        return image.size


def test_a_card_fits_160_pixels_beside_its_result(wide_result: Path) -> None:
    card = thumbnail(wide_result, CARD)
    assert card == wide_result.with_name("7-0.png.thumb.jpg")  # where every card made before is kept
    assert size_of(card) == (160, 80)


def test_a_tile_is_the_whole_result_letterboxed_in_a_384_by_288_box(wide_result: Path) -> None:
    tile = thumbnail(wide_result, TILE)
    assert tile == wide_result.parent / THUMBS_DIR / "7-0.png.jpg"  # where every tile made before is kept
    assert size_of(tile) == (384, 288)
    with Image.open(tile) as image:  # 384 x 192 of picture, centred: bands of background above and below
        assert image.getpixel((192, 10)) == pytest.approx(BACKGROUND, abs=3)
        assert image.getpixel((192, 144)) != pytest.approx(BACKGROUND, abs=3)


def test_a_table_cell_is_made_from_the_card_at_96_pixels(wide_result: Path) -> None:
    card = thumbnail(wide_result, CARD)
    cell = thumbnail_bytes(card, CELL)
    assert cell is not None and size_of(cell) == (96, 48)
    assert len(cell) < card.stat().st_size


def test_an_upload_preview_fits_320_pixels() -> None:
    preview = thumbnail_bytes(image_bytes("JPEG", (3000, 1000), "orange"), PREVIEW)
    assert preview is not None and size_of(preview) == (320, 107)


def test_sizes_made_in_memory_are_never_kept(wide_result: Path) -> None:
    for size in (CELL, PREVIEW):
        with pytest.raises(ValueError, match="thumbnail_bytes"):
            thumbnail(wide_result, size)
    assert sorted(p.name for p in wide_result.parent.iterdir()) == ["7-0.png"]


@pytest.mark.parametrize("size", [CARD, TILE], ids=["card", "tile"])
def test_a_thumbnail_already_on_disk_is_used_as_it_is(wide_result: Path, size: Size) -> None:
    """Thumbnails made before this maker existed stay where they were and are not made again."""
    kept = thumbnail(wide_result, size)
    assert kept is not None
    kept.write_bytes(b"made by an earlier version")
    os.utime(kept, (1_000_000, 1_000_000))
    assert thumbnail(wide_result, size) == kept and kept.read_bytes() == b"made by an earlier version"


def test_a_link_planted_where_a_thumbnail_goes_is_never_shown(wide_result: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.jpg"
    Image.new("RGB", (8, 8), "white").save(outside)
    wide_result.with_name("7-0.png.thumb.jpg").symlink_to(outside)
    assert shown_thumbnail(wide_result, CARD, wide_result.parent) is None
    assert shown_thumbnail(wide_result, TILE, wide_result.parent) == (wide_result.parent / THUMBS_DIR / "7-0.png.jpg").resolve()
