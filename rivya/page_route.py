"""The pages' own addresses (``/history``, ``/gallery``...) served with one line added to Streamlit's page.

Opened at a page's address (a link, a bookmark, a reload), Streamlit's front end does not know where the app's root
is. It asks ``/history/_stcore/health`` first, gets a 404, waits, and only then asks ``/_stcore/health`` and opens
its connection (``getPossibleBaseUris`` in Streamlit 1.67's front end). That detour was about 0.2 s of every such
visit to any page but Home, the largest part of the distance between a warm History visit and reference app (b)
(issue 21).

The added script names the root before Streamlit's own code runs, through ``window.__streamlit.BACKEND_BASE_URL``,
the setting Streamlit reads for hosts that serve it from elsewhere. The root is worked out in the browser (the page's
address less its last part), so a proxy that serves the app under a prefix of its own keeps it. The page is otherwise
Streamlit's ``index.html`` byte for byte, with the same ``no-cache``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

HEAD = "<head>"
ROOT_SCRIPT = (
    "<script>window.__streamlit = Object.assign({}, window.__streamlit, "
    "{BACKEND_BASE_URL: new URL('.', location.href.split(/[?#]/)[0].replace(/\\/+$/, '')).href});</script>"
)


def with_root(index_html: str) -> str | None:
    """Streamlit's page with the root script first in its head; None when the page has no ``<head>`` to put it in."""
    at = index_html.find(HEAD)
    if at < 0:
        return None
    at += len(HEAD)
    return index_html[:at] + ROOT_SCRIPT + index_html[at:]


def page_routes(index_html: Path, pages: Iterable[str], prefix: str = "") -> list[Route]:
    """One route per page address under ``prefix`` (``""`` or ``"/<root>"``: Streamlit's ``server.baseUrlPath``),
    answering the page.

    No route when Streamlit's page cannot be read or changed (a development build serves its own): Streamlit then
    answers these addresses itself, as before.
    """
    try:
        page = with_root(index_html.read_text(encoding="utf-8"))
    except OSError:
        return []
    if page is None:
        return []

    async def answer(_request: Request) -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    return [Route(f"{prefix}/{name}", answer, methods=["GET"]) for name in pages]
