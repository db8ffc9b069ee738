"""Webhooks as the wake-up: finish → log and status requests per job, with and without them; forged events.

Run: python -m benchmarks.webhooks [--runs 3] [--jobs 20] [--seconds 15] [--forge-seconds 60]   (prints markdown tables)

The sandbox (in this process, delivering signed events over real HTTP) runs image jobs of ``--seconds``; the app's
receiver route runs under uvicorn on 127.0.0.1, and the follower thread follows the jobs as in the app. Three ways:
polling as it was (looks at 2-3 s, then 5 s growing ×1.25 to 10 s), polling with looks placed near the expected
finish, and webhooks on (polling relaxed to the safety cadence). "finish → log" is from the task's end in the sandbox
to its row's ``finished_at``. Then forged (unsigned) events at 100 a second, each naming one of the pending tasks of
long jobs, for ``--forge-seconds``: status requests per pending task per 5 s (scheduled looks included), rows the
events changed, and how fast the receiver answered.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import requests
import uvicorn
from starlette.applications import Starlette

from benchmarks import medians
from rivya import RivyaClient, constants
from rivya.hook_route import hook_route
from rivya.hook_setup import Webhooks
from rivya.jobs import JobService
from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import TaskLog

SENDERS = 4  # forged events go out on this many connections at once, so a slow answer does not slow the pace


class Receiver:
    """The app's route under uvicorn on 127.0.0.1 (port 0)."""

    def __init__(self) -> None:
        self.hooks: Webhooks | None = None
        app = Starlette(routes=[hook_route(lambda: SimpleNamespace(webhooks=self.hooks))])  # type: ignore[arg-type,return-value]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not (self.server.started and self.server.servers):
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def bench_sandbox(timing: Timing) -> Sandbox:
    """A sandbox with a deep wallet that may deliver to the local receiver."""
    return Sandbox(timing=timing, credits=10**7, allow_local_webhooks=True)


def _stamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def one_run(way: str, jobs_count: int, seconds: float) -> dict[str, float]:
    timing = Timing(image_queued=seconds * 0.2, image_processing=seconds * 0.8)
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp, bench_sandbox(timing) as sandbox:
        receiver = Receiver()
        client = RivyaClient(sandbox.api_key, sandbox.url)
        jobs = JobService(client, TaskLog(Path(tmp) / "log.sqlite3"), Path(tmp) / "media", backend="sandbox")
        jobs.timetable.place_looks = way != "polling, as before"
        if way == "webhooks on":
            receiver.hooks = Webhooks(jobs, client, receiver.url)
            receiver.hooks.register()
            while not receiver.hooks.health.healthy:
                time.sleep(0.02)
        jobs.start()
        try:
            ids = []
            for n in range(jobs_count):
                ids.append(jobs.submit("grok-imagine", f"bench {n}", {}, idempotency_key=f"b{n}").id)
                time.sleep(0.25)  # a steady trickle, not one burst
            deadline = time.monotonic() + seconds * 6 + 60
            while not all(jobs.log.get(i).is_done for i in ids) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            jobs.saver.wait()  # results saved before the scratch folder goes
            jobs.stop()
            receiver.stop()
        rows = [jobs.log.get(i) for i in ids]
        lags = []
        for row in rows:
            task = sandbox.state.tasks[row.task_id]
            finished = _stamp(task.created_at) + task.queued_for + task.processing_for
            lags.append(_stamp(row.finished_at) - finished)
        gets = sum(1 for e in sandbox.journal if e.method == "GET" and e.path.startswith("/api/v1/generations/"))
        lags.sort()
        return {"p50": statistics.median(lags), "p95": lags[int(0.95 * (len(lags) - 1))],
                "polls": gets / len(rows), "ended": sum(r.status == "succeeded" for r in rows) / len(rows)}


def forged(jobs_count: int, seconds: float, rate: float = 100.0) -> dict[str, float]:
    """Unsigned events naming pending tasks, ``rate`` a second for ``seconds``, at a receiver with webhooks on."""
    timing = Timing(image_queued=seconds * 10, image_processing=seconds * 10)  # nothing ends during the run
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp, bench_sandbox(timing) as sandbox:
        receiver = Receiver()
        client = RivyaClient(sandbox.api_key, sandbox.url)
        jobs = JobService(client, TaskLog(Path(tmp) / "log.sqlite3"), Path(tmp) / "media", backend="sandbox")
        receiver.hooks = Webhooks(jobs, client, receiver.url)
        receiver.hooks.register()
        jobs.start()
        rows = [jobs.submit("grok-imagine", f"forged {n}", {}, idempotency_key=f"f{n}") for n in range(jobs_count)]
        before = len([e for e in sandbox.journal if e.method == "GET"])
        answers: list[float] = []
        start = time.monotonic()

        def send(lane: int) -> None:
            """One of SENDERS lanes, each sending every SENDERS-th event on the shared pace."""
            session = requests.Session()
            n = lane
            while time.monotonic() - start < seconds:
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
                row = rows[n % len(rows)]
                body = json.dumps({"id": f"evt_forged_{n}", "type": "generation.succeeded",
                                   "data": {"id": row.task_id, "status": "succeeded",
                                            "result": {"primary_url": "https://evil.example/x.png"}}}).encode()
                sent = time.monotonic()
                session.post(receiver.url + constants.WEBHOOK_PATH, data=body, timeout=10)
                answers.append(time.monotonic() - sent)
                n += SENDERS

        lanes = [threading.Thread(target=send, args=(lane,)) for lane in range(SENDERS)]
        for lane in lanes:
            lane.start()
        for lane in lanes:
            lane.join()
        elapsed = time.monotonic() - start
        n = len(answers)
        jobs.stop()
        receiver.stop()
        gets = len([e for e in sandbox.journal if e.method == "GET"]) - before
        changed = [r for r in (jobs.log.get(row.id) for row in rows) if r.is_done or r.result_urls]
        answers.sort()
        return {"events": n / elapsed, "per_task_5s": gets / len(rows) / (elapsed / 5), "changed": len(changed),
                "answer_p50_ms": 1000 * statistics.median(answers), "answer_p95_ms": 1000 * answers[int(0.95 * (n - 1))]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhooks", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--forge-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    print(f"{args.jobs} image jobs of {args.seconds:g} s; medians of {args.runs} run(s)")
    print()
    print("| way | finish → log p50 | finish → log p95 | status requests per job | succeeded |")
    print("|---|---|---|---|---|")
    for way in ("polling, as before", "polling, looks placed", "webhooks on"):
        m = medians([one_run(way, args.jobs, args.seconds) for _ in range(args.runs)])
        print(f"| {way} | {m['p50']:.2f} s | {m['p95']:.2f} s | {m['polls']:.2f} | {m['ended']:.0%} |")
    print()
    f = forged(args.jobs, args.forge_seconds)
    print(f"forged events for {args.forge_seconds:g} s at {f['events']:.0f}/s over {args.jobs} pending tasks")
    print()
    print("| status requests per pending task per 5 s | rows changed by events | receiver answer p50 | p95 |")
    print("|---|---|---|---|")
    print(f"| {f['per_task_5s']:.2f} | {f['changed']} | {f['answer_p50_ms']:.1f} ms | {f['answer_p95_ms']:.1f} ms |")


if __name__ == "__main__":
    main()
