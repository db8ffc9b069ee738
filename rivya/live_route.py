"""The push feed as a route of the app: ``GET /live/changes?since=<counter>``, answered when the log changed.

An open page's script waits here (``ui.live``) and wakes the page's live parts when the answer comes, instead of each
part looking on a timer of its own. Only a tab of a session granted access may wait: it sends its session's pass
(``rivya.live_feed.LivePasses``) in a header, never in the address (addresses end up in access logs); anything else
gets 403. The answer is the counter alone (a number that moves), never a job's data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import constants
from .errors import StorageError
from .studio import Studio

log = logging.getLogger("rivya.live")

PASS_HEADER = "x-live-pass"
NO_STORE = {"Cache-Control": "no-store"}


def _answer(body: dict[str, object], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status, headers=NO_STORE)


async def _disconnected(request: Request) -> None:
    """Return once the waiting page has gone (its tab closed or reloaded).

    Its wait then ends at once instead of after ``LIVE_WAIT_SECONDS``: it no longer holds one of its pass's few waits,
    and a server told to stop is not held up to that long by a request no one will read (its graceful shutdown waits
    for every request in flight).
    """
    try:
        while (await request.receive())["type"] != "http.disconnect":
            pass
    except Exception:  # a server that cannot tell: the wait ends as it did before (a change, or its timeout)
        await asyncio.Future()


def live_route(studio: Callable[[], Studio], alive: Callable[[str], bool]) -> Route:
    """The route; ``studio()`` finds the process's ``Studio``, ``alive(session_id)`` whether the server still holds
    that browser session (a pass of a session that ended is refused, and dropped)."""

    async def changes(request: Request) -> JSONResponse:
        try:
            shared = await asyncio.to_thread(studio)
        except Exception as exc:  # the app cannot start (its pages say why): the page falls back to its timers
            log.warning("a page waited for changes while the app cannot start (%s)", type(exc).__name__)
            return _answer({"message": "Try again later."}, 503)
        token = request.headers.get(PASS_HEADER)
        session_id = shared.passes.session_of(token)
        if token is None or session_id is None:
            return _answer({"message": "Not allowed."}, 403)
        if not alive(session_id):
            shared.passes.revoke(session_id)
            return _answer({"message": "Not allowed."}, 403)
        raw = request.query_params.get("since")
        if raw is None:  # the page's first wait: the counter now, for the next wait's ``since``
            try:
                return _answer({"changes": await asyncio.to_thread(shared.live.current)})
            except StorageError:
                return _answer({"message": "Try again later."}, 503)
        if not raw.lstrip("-").isdigit() or len(raw) > 20:
            return _answer({"message": "since must be a number."}, 400)
        if shared.live.waiting >= constants.LIVE_MAX_WAITS:
            return _answer({"message": "Try again later."}, 503)
        if not shared.passes.open_wait(token):
            return _answer({"message": "Too many waits for this page."}, 429)
        wait = asyncio.ensure_future(shared.live.changed(int(raw), constants.LIVE_WAIT_SECONDS))
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait((wait, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            wait.cancel()
            gone.cancel()
            shared.passes.close_wait(token)
        if not wait.done() or wait.cancelled():  # the page went away: no one reads this answer
            return _answer({"message": "Try again later."}, 503)
        value = wait.result()
        if value is None:  # the log cannot be read: the page wakes its parts, which show the outage notice
            return _answer({"message": "Try again later."}, 503)
        return _answer({"changes": value})

    return Route(constants.LIVE_PATH, changes, methods=["GET"])
