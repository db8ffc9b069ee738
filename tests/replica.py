"""One app replica's server side in a process of its own, for the replica drill and the replica benchmark.

Run: python -m tests.replica --database-url URL --base-url SANDBOX_URL [--api-key KEY] --media DIR --jobs N --prefix P
     [--lease-seconds S --lease-renew S] [--poll-fast] [--every S] [--threads T]
(the key may come from RIVYA_API_KEY instead, which keeps it off the process list; ``ReplicaProcess`` does that)

It wires the log, the client and the follower as ``rivya.studio.Studio.open`` does on PostgreSQL (every replica
follows; the log's leases give each job to one of them), submits ``N`` image jobs with the keys ``P-0`` … ``P-(N-1)``
(one every ``--every`` seconds per thread, as people pressing Generate would), then keeps following until SIGTERM
(``JobService.stop``, exit 0). While it runs, a line ``submit PREFIX START STOP`` on stdin submits the keys
``PREFIX-START`` … ``PREFIX-(STOP-1)`` too: the presses a load balancer sends here after another replica died (keys
that replica logged are replays, never second jobs). Each event is one line on stdout:
``ready HOLDER`` | ``submitted KEY ID STATUS`` | ``error KEY ERROR`` | ``done COUNT`` | then at SIGTERM
``lateness P50 P95 MAX REQUESTS`` (seconds each request of the follower started after its scheduled time) | ``stopped``.

``ReplicaProcess`` is the parent's side: it starts this module and reads those lines.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import IO

from rivya import RivyaClient, constants
from rivya.jobs import JobService
from rivya.polling import PollSchedule
from rivya.tasklog import TaskLog

ROOT = Path(__file__).resolve().parent.parent
MODEL = "grok-imagine"
# One prompt for every job (keys tell them apart): the sandbox renders a prompt's image once, so the sandbox's drawing
# does not become what a drill or a benchmark measures.
PROMPT = "replica drill: a lighthouse at dusk"
# The documented cadence (first look 2-3 s after submit, then every 5 s growing to 10 s) two and a half times faster, so
# a drill of jobs lasting a few seconds still sees first looks, repeat looks and back-off. Not faster: the follower
# wakes every ``rivya.constants.FOLLOW_TICK`` (0.25 s), and on a busy machine that lateness would then decide the counts.
FAST_POLLS = PollSchedule(first_delay=1.0, image_interval=2.0, video_interval=4.0, image_max=4.0, video_max=8.0)


def submit_range(
    jobs: JobService, prefix: str, start: int, stop: int, every: float, threads: int, stopping: threading.Event
) -> None:
    """Submit keys ``prefix-start`` … ``prefix-(stop-1)``, each thread pressing once every ``every`` seconds, until
    ``stopping`` is set (presses not made by then are dropped, as a stopping server drops its requests)."""
    began = time.monotonic()

    def press(n: int) -> None:
        if stopping.is_set():
            return
        # Key n of thread n % threads goes at its own moment, however long the earlier submits took.
        pause = began + (n - start) // threads * every - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        key = f"{prefix}-{n}"
        try:
            job = jobs.submit(MODEL, PROMPT, {}, idempotency_key=key)
        except Exception as exc:  # reported, not raised: the drill judges every key from the log in the end
            say(f"error {key} {type(exc).__name__}")
        else:
            say(f"submitted {key} {job.id} {job.status}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(press, range(start, stop)))
    say(f"done {stop - start}")


_say_lock = threading.Lock()


def say(line: str) -> None:
    with _say_lock:
        print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.replica", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="the shared log (postgresql+psycopg://…)")
    parser.add_argument("--base-url", required=True, help="the API (a sandbox's URL); also the jobs' backend")
    parser.add_argument("--api-key", default=os.environ.get("RIVYA_API_KEY"), help="default: $RIVYA_API_KEY")
    parser.add_argument("--media", required=True, type=Path, help="the media folder all replicas share")
    parser.add_argument("--jobs", type=int, default=0, help="how many jobs to submit at start")
    parser.add_argument("--prefix", default="job", help="idempotency keys are PREFIX-0, PREFIX-1, …")
    parser.add_argument("--every", type=float, default=0.05, help="seconds between one thread's submits")
    parser.add_argument("--threads", type=int, default=1, help="submitting threads (concurrent presses)")
    parser.add_argument("--lease-seconds", type=float, default=constants.LEASE_SECONDS)
    parser.add_argument("--lease-renew", type=float, default=constants.LEASE_RENEW)
    parser.add_argument("--poll-fast", action="store_true", help="the documented cadence 2.5 times faster")
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("give --api-key or set RIVYA_API_KEY")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    constants.LEASE_SECONDS = args.lease_seconds  # read at each claim and renewal, so set before the follower starts
    constants.LEASE_RENEW = args.lease_renew

    stopping = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_term)
    tasklog = TaskLog(args.database_url)
    client = RivyaClient(args.api_key, args.base_url)
    jobs = JobService(client, tasklog, args.media, backend=args.base_url, schedule=FAST_POLLS if args.poll_fast else None)
    # The drill checks the growing cadence across a takeover. Looks placed near a job's typical finish may come at the
    # shortest documented spacing instead (tests/test_schedule.py, on a fake clock); they would start here only once
    # the follower's first re-read of typical seconds (a minute in) learnt this drill's short jobs: on a slow machine.
    jobs.timetable.place_looks = False
    jobs.start()
    say(f"ready {jobs.holder}")

    def work() -> None:
        submit_range(jobs, args.prefix, 0, args.jobs, args.every, args.threads, stopping)
        for line in sys.stdin:  # ends at EOF: the parent closed our stdin
            words = line.split()
            if len(words) == 4 and words[0] == "submit":
                submit_range(jobs, words[1], int(words[2]), int(words[3]), args.every, args.threads, stopping)
            elif words:
                say(f"error command {words[0]!r}")

    threading.Thread(target=work, name="replica-submit", daemon=True).start()
    while not stopping.wait(0.5):
        pass
    late = sorted(jobs.lateness)
    if late:
        say(f"lateness {late[len(late) // 2]:.3f} {late[int(0.95 * len(late))]:.3f} {late[-1]:.3f} {len(late)}")
    jobs.stop()
    client.close()
    tasklog.close()
    say("stopped")


class ReplicaProcess:
    """The parent's handle on one ``python -m tests.replica``: its stdout lines as they come, and signals."""

    def __init__(self, name: str, args: Sequence[str], api_key: str, stderr_path: Path) -> None:
        self.name = name
        self.stderr_path = stderr_path
        self.lines: list[str] = []
        self.holder = ""
        self._changed = threading.Condition()
        with stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.replica", *args], cwd=ROOT, text=True, bufsize=1,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "RIVYA_API_KEY": api_key},
            )  # fmt: skip
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            with self._changed:
                self.lines.append(line.strip())
                if line.startswith("ready "):
                    self.holder = line.split()[1]
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def count(self, word: str) -> int:
        """How many lines so far start with ``word`` (``submitted``, ``done``, ``error`` …)."""
        with self._changed:
            return sum(1 for line in self.lines if line.split(" ", 1)[0] == word)

    def wait_until(self, test: Callable[[ReplicaProcess], bool], timeout: float) -> None:
        """Block until ``test(self)`` holds after some line arrived; fails with the process's stderr if it never does."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not test(self):
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"replica {self.name}: condition not met; lines {self.lines[-5:]}\n{self.stderr_tail()}")
                self._changed.wait(min(left, 0.5))

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        """SIGKILL: no ``stop()``, no lease released, requests in flight cut off (a crashed host)."""
        self.process.kill()
        self.process.wait()

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait: the replica stops its follower and exits; returns its exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return -9

    def stderr_tail(self, chars: int = 2000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no stderr)"


def replica_args(
    database_url: str, base_url: str, media: Path, *, jobs: int, prefix: str, every: float,
    threads: int = 1, lease_seconds: float | None = None, lease_renew: float | None = None, poll_fast: bool = False,
) -> list[str]:
    """The command line of one replica (see the module doc); the key goes by environment (``ReplicaProcess``)."""
    args = ["--database-url", database_url, "--base-url", base_url, "--media", str(media),
            "--jobs", str(jobs), "--prefix", prefix, "--every", str(every), "--threads", str(threads)]
    if lease_seconds is not None:
        args += ["--lease-seconds", str(lease_seconds)]
    if lease_renew is not None:
        args += ["--lease-renew", str(lease_renew)]
    return args + (["--poll-fast"] if poll_fast else [])


if __name__ == "__main__":
    main()
