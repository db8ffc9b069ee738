"""The pages' addresses answered with Streamlit's page plus where the app's root is (``rivya/page_route.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from rivya.page_route import ROOT_SCRIPT, page_routes, with_root
from ui.page_list import PAGES

INDEX = "<!DOCTYPE html><html><head><title>Streamlit</title></head><body></body></html>"


def get(routes: list[Route], path: str) -> Response | None:
    """What the first of ``routes`` matching a GET of ``path`` answers, or None if none matches (the server's 404)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "query_string": b"", "headers": []}
    for route in routes:
        matched, child = route.matches(scope)
        if matched == Match.FULL:
            return asyncio.run(route.endpoint(Request({**scope, **child})))
    return None


def test_the_root_script_comes_first_in_the_head_and_nothing_else_changes() -> None:
    page = with_root(INDEX)
    assert page is not None
    assert page.startswith("<!DOCTYPE html><html><head>" + ROOT_SCRIPT + "<title>")
    assert page.replace(ROOT_SCRIPT, "") == INDEX


def test_without_a_page_to_change_streamlit_answers_the_addresses_itself(tmp_path: Path) -> None:
    assert page_routes(tmp_path / "missing.html", ["history"]) == []
    headless = tmp_path / "index.html"
    headless.write_text("<html><body></body></html>")
    assert page_routes(headless, ["history"]) == []


def test_each_page_address_is_answered_under_the_base_path(tmp_path: Path) -> None:
    index = tmp_path / "index.html"
    index.write_text(INDEX)
    routes = page_routes(index, ["gallery", "history"], "/studio")
    assert get(routes, "/history") is None and get(routes, "/studio/explore") is None  # only the pages named, under the base
    answer = get(routes, "/studio/history")
    assert answer is not None and answer.status_code == 200
    assert answer.headers["cache-control"] == "no-cache"
    assert ROOT_SCRIPT in answer.body.decode()


def test_every_page_file_is_listed_once_and_home_comes_first() -> None:
    """One list of pages (``ui/page_list.py``) makes both the navigation and the addresses answered here."""
    files = sorted(path.name for path in (Path(__file__).parent.parent / "pages").glob("*.py"))
    assert sorted(Path(entry.script).name for entry in PAGES) == files
    assert PAGES[0].address == "home"  # the default page
