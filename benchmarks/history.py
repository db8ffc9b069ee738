"""History page at scale: render and filter time for 1k, 10k and 100k logged jobs; 8 writers.

Run: python -m benchmarks.history      (prints a markdown table)
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rivya import ledger
from rivya.sandbox import Sandbox
from rivya.tasklog import TaskLog

WORDS = ("fox", "lighthouse", "ramen", "orchid", "neon", "city", "river", "storm", "kite", "paper", "boat", "dawn",
         "snow", "cliff")


def seed(path: Path, rows: int) -> None:
    """Write ``rows`` realistic jobs straight into a fresh log file."""
    TaskLog(path).close()
    rng = random.Random(rows)
    now = datetime.now(UTC)
    batch = []
    for n in range(rows):
        model = rng.choice(["grok-imagine", "grok-imagine-video"])
        status = rng.choices(["succeeded", "failed", "rejected", "queued"], [85, 8, 5, 2])[0]
        cost = 4 if model == "grok-imagine" else 10
        submitted = now - timedelta(minutes=rng.randint(0, 60 * 24 * 90))
        finished = submitted + timedelta(seconds=rng.uniform(5, 90)) if status in ("succeeded", "failed") else None
        prompt = " ".join(rng.choices(WORDS, k=rng.randint(4, 30)))
        stamp = (finished or submitted).isoformat(timespec="milliseconds")
        batch.append((
            f"seed-{n}", "bench", submitted.isoformat(timespec="milliseconds"), stamp,
            finished.isoformat(timespec="milliseconds") if finished else None, model,
            "video" if "video" in model else "image", prompt, json.dumps({"aspect_ratio": "1:1"}),
            f"task_{n}", status, cost if status != "rejected" else None,
            {"succeeded": cost, "failed": 0, "queued": 0}.get(status),
        ))
    with sqlite3.connect(path) as db:
        db.executemany(
            """INSERT INTO jobs (idempotency_key, backend, submitted_at, updated_at, finished_at, model, category, prompt,
               params, task_id, status, reserved_credits, final_credits) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            batch,
        )


def time_it(fn, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def size_rows(rows: int) -> list[str]:
    from streamlit.testing.v1 import AppTest

    from rivya.config import load_settings
    from rivya.studio import close_shared, open_shared
    from ui.services import MAIN_SCRIPT

    with tempfile.TemporaryDirectory() as data, Sandbox() as sandbox:
        path = Path(data) / "tasklog.sqlite3"
        seed(path, rows)
        os.environ.update(RIVYA_BASE_URL=sandbox.url, RIVYA_API_KEY=sandbox.api_key, RIVYA_DATA_DIR=data)
        warmup = time_it(lambda: ledger.LedgerView(TaskLog(path)).frame(), 1)
        at = AppTest.from_file(str(MAIN_SCRIPT), default_timeout=120)
        at.run()
        studio = open_shared(load_settings())
        studio.ledger.frame()  # the server warms the ledger at start; wait for it as a user would not
        at.switch_page("pages/history.py")
        render = time_it(at.run, 1)
        assert not at.exception, at.exception
        log = TaskLog(path)

        def rerun_after_a_change() -> None:
            log.update(rows // 2, status="succeeded")
            at.run()

        rerun = time_it(rerun_after_a_change, 3)
        df = studio.ledger.frame()
        text = time_it(lambda: ledger.filter_jobs(df, text="lighthouse dawn"))
        combined = time_it(
            lambda: ledger.filter_jobs(
                df, models=["grok-imagine"], statuses=["succeeded"], start=df["day"].min() + timedelta(days=30), text="fox"
            )
        )
        close_shared()
    return [
        f"{rows:,}", f"{warmup * 1000:.0f} ms", f"{render * 1000:.0f} ms", f"{rerun * 1000:.0f} ms",
        f"{text * 1000:.1f} ms", f"{combined * 1000:.1f} ms",
    ]


def writers_row() -> str:
    with tempfile.TemporaryDirectory() as data:
        log = TaskLog(Path(data) / "log.sqlite3")

        def write(n: int) -> None:
            for i in range(250):
                log.add(idempotency_key=f"{n}-{i}", backend="b", model="grok-imagine", category="image", prompt="p", params={})

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        count = log.count()
    return f"8 threads × 250 appends: {count:,} of 2,000 rows kept, {2000 / elapsed:,.0f} appends/s"


def main() -> None:
    print("| logged jobs | ledger warm-up at server start | page render | rerun after a job changed "
          "| text filter | combined filter |")
    print("|---|---|---|---|---|---|")
    for rows in (1_000, 10_000, 100_000):
        print("| " + " | ".join(size_rows(rows)) + " |")
    print()
    print(writers_row())


if __name__ == "__main__":
    main()
