"""The webhook receiver as a Starlette route of the app (``st.App(..., routes=...)``): ``POST /hooks/rivya``.

A thin adapter: it bounds the body before reading it whole, then hands bytes and headers to ``HookReceiver`` on a worker
thread (it reads the log) and sends its answer. Without webhooks configured the route answers 404.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import constants
from .studio import Studio

log = logging.getLogger("rivya.webhooks")


def hook_route(studio: Callable[[], Studio]) -> Route:
    """The route, finding the process's ``Studio`` through ``studio()`` on each delivery."""

    async def receive(request: Request) -> JSONResponse:
        length = request.headers.get("content-length", "")
        if length and (not length.isdigit() or int(length) > constants.WEBHOOK_MAX_BODY):
            return JSONResponse({"ok": False, "message": "The event is larger than this receiver takes."}, 413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > constants.WEBHOOK_MAX_BODY:  # sent without a length, or with a false one
                return JSONResponse({"ok": False, "message": "The event is larger than this receiver takes."}, 413)
        try:
            hooks = (await asyncio.to_thread(studio)).webhooks
        except Exception as exc:  # the app cannot start (its pages say why); the service retries the delivery
            log.warning("a webhook event arrived while the app cannot start (%s)", type(exc).__name__)
            return JSONResponse({"ok": False, "message": "Try again later."}, 503)
        if hooks is None:
            return JSONResponse({"ok": False, "message": "Webhooks are not configured here."}, 404)
        answer = await asyncio.to_thread(hooks.receiver.receive, bytes(body), dict(request.headers))
        return JSONResponse(answer.body, answer.status)

    return Route(constants.WEBHOOK_PATH, receive, methods=["POST"])
