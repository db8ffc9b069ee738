"""An "outsider" server: follows the documented contract, but where the reference is silent it
makes the least convenient legal choice, and each reply can be scripted per test.

It shares no code with the client or the sandbox. Creates answer 202 with only the fields
of the reference's one example; statuses may arrive in capitals with spaces; credits may
omit ``current_credits``; any reply can be replaced by a scripted one (an HTML page, a 409,
a dropped connection, a hanging request).
"""

from __future__ import annotations

import io
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

from rivya.sandbox.server import STOP_POLL

Reply = tuple[int, dict[str, str], bytes]
# A scripted reply: a (status, headers, body) triple, "drop" (close without answering), or a
# callable that may sleep and then returns a triple. A scripted create makes (and charges) the
# task first unless its reply is an error status: then it is a refusal or a duplicate in flight.
Script = Reply | str | Callable[[], Reply]


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "orange").save(buffer, "PNG")
    return buffer.getvalue()


def json_reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


@dataclass
class OutsiderTask:
    id: str
    body: dict[str, Any]
    started: float
    seconds: float
    status_text: str = "Queued"


@dataclass
class Outsider:
    """State and scripts; ``server`` runs it on 127.0.0.1 at a free port."""

    task_seconds: float = 0.3
    tasks: dict[str, OutsiderTask] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # idempotency key -> task id
    creates: deque[Script] = field(default_factory=deque)
    polls: deque[Script] = field(default_factory=deque)
    other: dict[str, deque[Script]] = field(default_factory=dict)  # "METHOD /path" -> scripted replies
    bodies: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[float, str, str]] = field(default_factory=list)
    done_status: str = "SUCCEEDED "
    charged: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Outsider:
        outsider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with outsider.lock:
                    outsider.requests.append((time.monotonic(), method, self.path))
                reply = outsider.answer(method, self.path, raw, self.headers.get("Idempotency-Key"))
                if reply == "drop":
                    self.close_connection = True
                    return
                status, headers, body = reply
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": STOP_POLL}, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def count(self, method: str, prefix: str) -> int:
        with self.lock:
            return sum(1 for _, m, p in self.requests if m == method and p.startswith(prefix))

    # -- behaviour ------------------------------------------------------------------------

    def answer(self, method: str, path: str, raw: bytes, key: str | None) -> Reply | str:
        with self.lock:
            scripted = self.other.get(f"{method} {path}")
            script = scripted.popleft() if scripted else None
        if script is not None:
            return script() if callable(script) else script
        if method == "POST" and path == "/api/v1/generations":
            return self._create(raw, key)
        if method == "GET" and path.startswith("/api/v1/generations/"):
            with self.lock:
                script = self.polls.popleft() if self.polls else None
            if script is not None:
                return script() if callable(script) else script
            return self._status(path.rsplit("/", 1)[1])
        if method == "GET" and path == "/api/v1/credits":
            return json_reply(200, {"wallet": "ok"})  # no current_credits: a legal, unhelpful reply
        if method == "GET" and path.startswith("/media/"):
            return 200, {"Content-Type": "application/octet-stream"}, png_bytes()
        return json_reply(404, {"error": {"code": "not_found", "message": "No such route."}})

    def _create(self, raw: bytes, key: str | None) -> Reply | str:
        body = json.loads(raw)
        with self.lock:
            self.bodies.append(body)
            script = self.creates.popleft() if self.creates else None
            if isinstance(script, tuple) and script[0] >= 400:
                return script
            task_id = self.keys.get(key or "")
            if task_id is None:
                task_id = f"task_{secrets.token_hex(6)}"
                self.tasks[task_id] = OutsiderTask(task_id, body, time.monotonic(), self.task_seconds)
                self.charged += 4
                if key:
                    self.keys[key] = task_id
        if script is not None:
            return script() if callable(script) else script
        return json_reply(202, {"id": task_id, "status": "queued", "model": body["model"], "reserved_credits": 4,
                                "result": None, "error": None})

    def _status(self, task_id: str) -> Reply:
        with self.lock:
            task = self.tasks.get(task_id)
        if task is None:
            return json_reply(404, {"error": {"code": "not_found", "message": "No such task."}})
        if time.monotonic() - task.started < task.seconds:
            return json_reply(200, {"id": task.id, "status": " Processing", "model": task.body["model"], "reserved_credits": 4})
        url = f"{self.url}/media/{task.id}"
        return json_reply(200, {"id": task.id, "status": self.done_status, "model": task.body["model"],
                                "reserved_credits": 4, "final_credits": 4, "result": {"urls": [url]}, "error": None})
