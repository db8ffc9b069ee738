"""The push feed for open pages: the process's one reader of the log's change counter (both engines), and its route
(real HTTP on 127.0.0.1) that only a granted, living browser session may wait on.

Each feed here looks at the counter far too seldom (``SELDOM``) to have seen a change by itself within a test's
deadline: an answer can only have come from what the test exercises (the process's own write, or another replica's
write seen at a look the waiter itself started).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
import uvicorn
from starlette.applications import Starlette

from rivya import constants
from rivya.errors import StorageError
from rivya.live_feed import ChangeFeed, LivePasses
from rivya.live_route import PASS_HEADER, live_route
from rivya.tasklog import TaskLog

from .conftest import until

SELDOM = 600.0
DEADLINE = 30.0


def add(log: TaskLog, key: str) -> int:
    return log.add(idempotency_key=key, backend="sandbox", model="grok-imagine", category="image", prompt=key,
                   params={}).id


def counter(log: TaskLog) -> int:
    return log.signature()[2]


@pytest.fixture
def log(log_location: Path | str) -> Iterator[TaskLog]:
    task_log = TaskLog(log_location)
    yield task_log
    task_log.close()


def waiting(feed: ChangeFeed, since: int, timeout: float = DEADLINE) -> tuple[threading.Thread, list[int]]:
    """A waiter in a thread, once the look its arrival started is over; its answer lands in the list."""
    got: list[int] = []
    reads = feed.reads
    thread = threading.Thread(target=lambda: got.append(feed.wait(since, timeout)), daemon=True)
    thread.start()
    until(lambda: feed.waiting == 1 and feed.reads > reads)
    return thread, got


def test_a_write_of_this_process_answers_its_waiters_at_once(log: TaskLog) -> None:
    feed = ChangeFeed(lambda: counter(log), interval=SELDOM)
    log.db.written.append(feed.poke)
    since = feed.current()
    thread, got = waiting(feed, since)
    add(log, "a")
    thread.join(DEADLINE)
    assert got == [counter(log)] and got[0] != since


def test_another_replicas_write_reaches_a_waiter_that_asks_after_it(log: TaskLog, log_location: Path | str) -> None:
    """Replicas share the log, not their processes: what another one wrote is read at this feed's next look (a new
    waiter starts one at once), so a tab on any replica is told."""
    other = TaskLog(log_location)
    try:
        feed = ChangeFeed(lambda: counter(log), interval=SELDOM)
        since = feed.current()
        add(other, "written elsewhere")
        assert feed.wait(since, DEADLINE) == counter(log) != since
    finally:
        other.close()


def test_a_wait_without_a_change_ends_with_the_same_counter_and_the_reader_stops(log: TaskLog) -> None:
    feed = ChangeFeed(lambda: counter(log), interval=0.05)
    since = feed.current()
    assert feed.wait(since, 0.3) == since
    until(lambda: not feed._running)  # nobody waits: no more reads
    assert feed.waiting == 0


def test_passes_are_hashes_replaced_per_session_and_revoked() -> None:
    passes = LivePasses()
    first = passes.grant("s1")
    assert passes.session_of(first) == "s1" and first not in repr(vars(passes))
    second = passes.grant("s1")
    assert passes.session_of(first) is None and passes.session_of(second) == "s1"
    passes.revoke("s1")
    assert passes.session_of(second) is None and len(passes) == 0
    assert passes.session_of(None) is None and passes.session_of("x" * 10_000) is None


class LiveServer:
    """The feed's route served by uvicorn on 127.0.0.1, port 0, in a thread."""

    def __init__(self, feed: ChangeFeed, passes: LivePasses, alive: set[str]) -> None:
        studio = SimpleNamespace(live=feed, passes=passes)
        app = Starlette(routes=[live_route(lambda: studio, lambda sid: sid in alive)])  # type: ignore[arg-type,return-value]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        until(lambda: self.server.started and self.server.servers)
        self.url = f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}{constants.LIVE_PATH}"

    def get(self, token: str | None, since: object = None, timeout: float = DEADLINE + 10) -> requests.Response:
        headers = {PASS_HEADER: token} if token is not None else {}
        params = {"since": since} if since is not None else {}
        return requests.get(self.url, headers=headers, params=params, timeout=timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LiveServer, TaskLog, ChangeFeed, LivePasses, set[str]]]:
    log = TaskLog(tmp_path / "log.sqlite3")
    feed = ChangeFeed(lambda: counter(log), interval=SELDOM)
    log.db.written.append(feed.poke)
    passes, alive = LivePasses(), {"s1"}
    server = LiveServer(feed, passes, alive)
    yield server, log, feed, passes, alive
    server.stop()
    feed.close()
    log.close()


def test_only_a_living_granted_session_may_wait(served: tuple) -> None:
    server, log, _feed, passes, alive = served
    token = passes.grant("s1")
    stranger = passes.grant("s2")  # granted once, but the server no longer holds its session
    assert server.get(None).status_code == 403
    assert server.get("not-a-pass").status_code == 403
    assert server.get(stranger).status_code == 403
    assert passes.session_of(stranger) is None  # dropped on the way
    answer = server.get(token)
    assert answer.status_code == 200 and answer.json() == {"changes": counter(log)}  # the counter, nothing else
    assert answer.headers["cache-control"] == "no-store"
    assert server.get(token, since="1; DROP").status_code == 400
    alive.discard("s1")
    assert server.get(token).status_code == 403


def test_a_wait_is_answered_when_the_log_changes(served: tuple) -> None:
    server, log, feed, passes, _alive = served
    token = passes.grant("s1")
    since = server.get(token).json()["changes"]
    answers: list[requests.Response] = []
    thread = threading.Thread(target=lambda: answers.append(server.get(token, since)), daemon=True)
    reads = feed.reads
    thread.start()
    until(lambda: feed.waiting == 1 and feed.reads > reads)
    add(log, "news")
    thread.join(DEADLINE)
    assert answers[0].status_code == 200 and answers[0].json() == {"changes": counter(log)} != {"changes": since}


def test_a_wait_without_change_ends_with_the_same_counter(served: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    server, log, _feed, passes, _alive = served
    monkeypatch.setattr(constants, "LIVE_WAIT_SECONDS", 0.2)
    token = passes.grant("s1")
    since = counter(log)
    assert server.get(token, since).json() == {"changes": since}


def test_one_pass_holds_few_waits_at_once(served: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    server, log, feed, passes, _alive = served
    monkeypatch.setattr(constants, "LIVE_WAITS_PER_PASS", 1)
    token = passes.grant("s1")
    since = counter(log)
    thread = threading.Thread(target=lambda: server.get(token, since), daemon=True)
    thread.start()
    until(lambda: feed.waiting == 1)
    assert server.get(token, since).status_code == 429
    add(log, "ends the first wait")
    thread.join(DEADLINE)
    assert feed.waiting == 0


def test_a_log_that_cannot_be_read_answers_every_waiter_at_once(served: tuple) -> None:
    """The page is told, so its parts run and show the outage notice, rather than waiting for their slow timers."""
    server, log, feed, passes, _alive = served
    token = passes.grant("s1")
    since = counter(log)
    down = threading.Event()
    read = feed._read
    feed._read = lambda: (_ for _ in ()).throw(StorageError("the log is down")) if down.is_set() else read()
    answers: list[requests.Response] = []
    reads = feed.reads
    thread = threading.Thread(target=lambda: answers.append(server.get(token, since)), daemon=True)
    thread.start()
    until(lambda: feed.waiting == 1 and feed.reads > reads)
    down.set()
    feed.poke()
    thread.join(DEADLINE)
    assert answers[0].status_code == 503 and "changes" not in answers[0].json()


def test_a_wait_whose_page_went_away_ends_at_once_and_frees_its_place(served: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed or reloaded tab's wait stops holding one of its pass's waits (and a stopping server's shutdown) at once,
    not when its ``LIVE_WAIT_SECONDS`` would end (here never within the test)."""
    server, log, feed, passes, _alive = served
    monkeypatch.setattr(constants, "LIVE_WAIT_SECONDS", SELDOM)
    monkeypatch.setattr(constants, "LIVE_WAITS_PER_PASS", 1)
    token = passes.grant("s1")
    since = counter(log)
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=DEADLINE) as tab:
        tab.sendall(f"GET {address.path}?since={since} HTTP/1.1\r\nHost: {address.netloc}\r\n{PASS_HEADER}: {token}\r\n\r\n"
                    .encode())
        until(lambda: feed.waiting == 1)
    until(lambda: feed.waiting == 0)
    add(log, "a change after the tab went away")
    assert server.get(token, since).json() == {"changes": counter(log)}  # its one place is free again
