"""Several app replicas on one PostgreSQL log: jobs per second sustained, and status requests per job.

Run: python -m benchmarks.replicas [--runs 3] [--jobs 600] [--seconds 8] [--replicas 1,2,3]   (prints a markdown table;
about five minutes on 2 cores)

A private PostgreSQL server (``tests/postgres_server.py``; Debian's postgresql package) holds one fresh database per
run. The sandbox runs in a process of its own (its work does not share an interpreter with anyone's), image tasks take
``--seconds``. Each replica is ``python -m tests.replica``: the app's server side (log, client, follower with leases,
the documented polling cadence) in its own process, all sharing one media folder. The replicas submit ``--jobs`` image
jobs between them, ``--threads`` concurrent presses each, as fast as they are answered, while every follower runs; a
run ends once every job ended and its result is saved.

- submitted/s: jobs logged and created per second (all replicas together), over the middle 80 % of the submits.
- ended/s: jobs the followers saw end per second, over the middle 80 % of the ends. Near submitted/s: following kept
  up (each end comes at one of the job's looks, so with few jobs the cadence, not the replicas, spreads the ends).
- status requests per job: GET /generations/{id} the sandbox answered, per job. The documented cadence (first look
  2-3 s after submit, then every 5 s growing) sets the floor; more replicas must not raise it.
- finish → log p95: from a task's end at the sandbox to its end in the log.
- late p95: the worst replica's 95th percentile of how late its follower's requests started.
Medians over the runs of each figure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections import Counter
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path

from benchmarks import medians
from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import PENDING_WHERE, TaskLog
from tests.postgres_server import PostgresServer
from tests.replica import ReplicaProcess, replica_args

KEY = "rvya_sk_bench_replicas"
CREDITS = 10**9
FINISH_TIMEOUT = 600.0
STATUS_PATH = "/api/v1/generations/"


def serve_sandbox(conn: Connection, seconds: float) -> None:
    """The sandbox in its own process: sends its URL, then on "stats" the status requests it answered per task."""
    timing = Timing(image_queued=seconds * 0.2, image_processing=seconds * 0.8)
    with Sandbox(api_key=KEY, credits=CREDITS, timing=timing) as sandbox:
        conn.send(sandbox.url)
        conn.recv()
        journal = sandbox.journal
        polls = Counter(e.task_id for e in journal if e.method == "GET" and e.path.startswith(STATUS_PATH) and e.task_id)
        # When each task ended on the sandbox's clock, as seconds before now, so the caller can place it on its own.
        now = time.monotonic()
        ends = {t.id: now - (t.started + t.queued_for + t.processing_for) for t in sandbox.state.tasks.values()}
        conn.send((dict(polls), ends))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def rate(stamps: list[float]) -> float:
    """Events per second over the middle 80 % of ``stamps`` (a straggler at either end does not set the figure)."""
    ordered = sorted(stamps)
    low, high = int(0.1 * len(ordered)), int(0.9 * len(ordered))
    span = ordered[high - 1] - ordered[low] if high - low > 1 else 0.0
    return (high - low - 1) / span if span > 0 else float("nan")


def wait_until_done(url: str, backend: str, jobs: int, replicas: list[ReplicaProcess]) -> None:
    log = TaskLog(url)
    try:
        deadline = time.monotonic() + FINISH_TIMEOUT
        while time.monotonic() < deadline:
            rows, pending = log.read(f"SELECT COUNT(*), COUNT(*) FILTER (WHERE {PENDING_WHERE}) FROM jobs")[0]
            if rows == jobs and pending == 0 and not log.unsaved(backend):
                return
            time.sleep(0.25)
        tails = "\n".join(f"--- {r.name}\n{r.stderr_tail()}" for r in replicas)
        raise RuntimeError(f"the jobs did not end within {FINISH_TIMEOUT:.0f} s\n{tails}")
    finally:
        log.close()


def one_run(postgres: PostgresServer, replicas: int, jobs: int, seconds: float, threads: int) -> dict[str, float]:
    url = postgres.create_database()
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    sandbox = context.Process(target=serve_sandbox, args=(theirs, seconds), daemon=True)
    sandbox.start()
    processes: list[ReplicaProcess] = []
    try:
        base_url = ours.recv()
        with tempfile.TemporaryDirectory(prefix="bench-replicas-") as folder:
            shares = [jobs // replicas + (1 if n < jobs % replicas else 0) for n in range(replicas)]
            for n, share in enumerate(shares):
                args = replica_args(url, base_url, Path(folder) / "media", jobs=share, prefix=f"r{n}", every=0.0, threads=threads)
                processes.append(ReplicaProcess(f"r{n}", args, KEY, Path(folder) / f"r{n}.stderr"))
            wait_until_done(url, base_url, jobs, processes)
            for process in processes:
                if process.terminate() != 0:
                    raise RuntimeError(f"replica {process.name} did not stop cleanly:\n{process.stderr_tail()}")
            ours.send("stats")
            polls, ends_ago = ours.recv()
            now = time.time()
            log = TaskLog(url)
            try:
                rows = log.where("1 = 1", limit=jobs + 1)
            finally:
                log.close()
    finally:
        for process in processes:
            process.terminate()
        sandbox.kill()
        sandbox.join()
    submitted = [datetime.fromisoformat(r.submitted_at).timestamp() for r in rows]
    ended = [datetime.fromisoformat(r.finished_at).timestamp() for r in rows if r.finished_at]
    lag = [datetime.fromisoformat(r.finished_at).timestamp() - (now - ends_ago[r.task_id])
           for r in rows if r.finished_at and r.task_id in ends_ago]
    late = [float(line.split()[2]) for p in processes for line in p.lines if line.startswith("lateness ")]
    return {
        "submitted": rate(submitted),
        "ended": rate(ended),
        "polls": sum(polls.values()) / len(rows),
        "lag_p95": percentile(lag, 0.95),
        "late_p95": max(late, default=float("nan")),
        "done": sum(1 for r in rows if r.status == "succeeded") / jobs,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=600, help="image jobs per run, split between the replicas")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long each image task takes")
    parser.add_argument("--threads", type=int, default=4, help="concurrent presses per replica")
    parser.add_argument("--replicas", default="1,2,3")
    args = parser.parse_args(argv)
    print(f"{args.jobs} image jobs of {args.seconds:g} s per run, {args.threads} presses at once per replica; "
          f"medians of {args.runs} run(s)")
    print()
    print("| replicas | submitted/s | ended/s | status requests per job | finish → log p95 | late p95 | finished |")
    print("|---|---|---|---|---|---|---|")
    with PostgresServer() as postgres:
        for replicas in (int(n) for n in args.replicas.split(",")):
            runs = [one_run(postgres, replicas, args.jobs, args.seconds, args.threads) for _ in range(args.runs)]
            med = medians(runs)
            print(
                f"| {replicas} | {med['submitted']:.1f} | {med['ended']:.1f} | {med['polls']:.2f} | "
                f"{med['lag_p95']:.2f} s | {med['late_p95']:.2f} s | {med['done']:.0%} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
