"""Does one process keep the polling cadence for many jobs? Lateness of every status request.

Run: python -m benchmarks.follower [--runs 3] [--seconds 15]   (prints a markdown table)

For 10, 100 and 500 image jobs in flight at once and 0, 100 and 300 ms of API latency, the
sandbox runs in its own process (so its work does not share this one's interpreter), jobs
are submitted by 16 threads at once while the follower runs (as it does in the app, from
server start), and the follower follows them to the end. "Late" is
how long after its scheduled time each request started; "finish → log" is how long after
the task's end its result was in the log. Medians over the runs of each figure.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

from benchmarks import medians
from rivya import RivyaClient
from rivya.jobs import JobService
from rivya.tasklog import TaskLog

KEY = "rvya_sk_bench_follower"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox(seconds: float, latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rivya.sandbox", "--port", str(port), "--api-key", KEY, "--credits", "1000000",
         "--image-seconds", str(seconds), "--latency", str(latency)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/api/v1/models", timeout=1)
            return process, url
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the sandbox did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def one_run(count: int, latency: float, seconds: float) -> dict[str, float]:
    process, url = start_sandbox(seconds, latency)
    data = Path(tempfile.mkdtemp(prefix="bench-follower-"))
    jobs = JobService(RivyaClient(KEY, url), TaskLog(data / "log.sqlite3"), data / "media", backend="bench")
    try:
        jobs.start()  # as in the app, the follower already runs while people submit
        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(
                lambda n: jobs.submit("grok-imagine", f"bench fox {n}", {}, idempotency_key=f"b{n}").id, range(count)
            ))
        deadline = time.monotonic() + seconds * 4 + 120
        while time.monotonic() < deadline and (jobs.log.pending("bench") or jobs.log.unsaved("bench")):
            time.sleep(0.25)
        jobs.stop()
        rows = [jobs.log.get(i) for i in ids]
        done = [r for r in rows if r.status == "succeeded"]
        finish_lag = [
            (datetime.fromisoformat(r.finished_at) - datetime.fromisoformat(r.submitted_at)).total_seconds() - seconds
            for r in done
        ]
        late = list(jobs.lateness)
        return {
            "late_p50": percentile(late, 0.5),
            "late_p95": percentile(late, 0.95),
            "late_max": max(late) if late else float("nan"),
            "polls_per_job": statistics.mean(r.polls for r in rows),
            "finish_p95": percentile(finish_lag, 0.95),
            "done": len(done) / count,
        }
    finally:
        process.kill()
        process.wait()
        jobs.log.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.follower", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each image job takes")
    parser.add_argument("--counts", default="10,100,500")
    parser.add_argument("--latencies", default="0,0.1,0.3")
    args = parser.parse_args(argv)
    # The guidance's floor for one job: a first look, then one every 5 s until it ends.
    floor = 1 + max(0.0, args.seconds - 2.5) / 5
    print(f"image jobs of {args.seconds:g} s; medians of {args.runs} run(s); fewest polls the 5 s floor allows ≈ {floor:.1f}")
    print()
    print("| jobs in flight | API latency | late p50 | late p95 | late max | status requests per job "
          "| finish → log p95 | finished |")
    print("|---|---|---|---|---|---|---|---|")
    for count in (int(c) for c in args.counts.split(",")):
        for latency in (float(x) for x in args.latencies.split(",")):
            runs = [one_run(count, latency, args.seconds) for _ in range(args.runs)]
            med = medians(runs)
            print(
                f"| {count} | {latency * 1000:.0f} ms | {med['late_p50']:.2f} s | {med['late_p95']:.2f} s | "
                f"{med['late_max']:.2f} s | {med['polls_per_job']:.1f} | {med['finish_p95']:.1f} s | {med['done']:.0%} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
