"""The demo banner names the setting once, on Home, and no other page repeats it (issue 20)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from .conftest import APP

PAGES = ("pages/image.py", "pages/video.py", "pages/gallery.py", "pages/history.py", "pages/explore.py")


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The app with no API key (its own sandbox), closed afterwards."""
    from rivya.studio import close_shared

    monkeypatch.delenv("RIVYA_API_KEY", raising=False)
    monkeypatch.delenv("RIVYA_BASE_URL", raising=False)
    monkeypatch.setenv("RIVYA_DATA_DIR", str(tmp_path))
    yield
    close_shared()


def banners(at: AppTest) -> list[str]:
    return [info.value for info in at.info if "Demo mode" in info.value]


def test_the_demo_banner_is_on_home_only(demo: None) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    (banner,) = banners(at)
    assert "RIVYA_API_KEY" in banner and "start afresh whenever the app restarts" in banner
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert banners(at) == [], page
    at.switch_page("pages/home.py").run()
    assert len(banners(at)) == 1
