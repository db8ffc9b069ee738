"""Jobs on the sandbox: polling cost, result delay, page rerun time, server memory.

Run: python -m benchmarks.jobs        (about two minutes; prints a markdown table)
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from rivya import RivyaClient
from rivya.jobs import JobService
from rivya.polling import PollSchedule, RequestBudget
from rivya.sandbox import Sandbox, Timing
from rivya.tasklog import TaskLog


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fewest_polls(duration: float) -> int:
    """Fewest status requests the guidance allows: first at 3 s, then every 10 s."""
    return 1 if duration <= 3 else 1 + math.ceil((duration - 3) / 10)


def polling_rows() -> list[tuple[str, str]]:
    durations = {"image": (5, 12), "video": (12, 30)}
    rows = []
    with Sandbox(timing=Timing(image_queued=0, image_processing=1, video_queued=0, video_processing=1)) as sandbox:
        data = Path(tempfile.mkdtemp())
        jobs = JobService(RivyaClient(sandbox.api_key, sandbox.url), TaskLog(data / "log.db"), data / "media", backend="s")
        submitted = []
        for category, seconds in durations.items():
            model = "grok-imagine" if category == "image" else "grok-imagine-video"
            for d in seconds:
                # Each task gets its own known duration.
                sandbox.state.timing = Timing(image_queued=0, image_processing=d, video_queued=0, video_processing=d)
                job = jobs.submit(model, f"{category} {d}s", {}, idempotency_key=f"{category}-{d}")
                submitted.append((category, d, job.id, job.task_id))
        jobs.start()
        while not all(jobs.log.get(j).is_done for _, _, j, _ in submitted):
            time.sleep(0.2)
        jobs.stop()
        for category, d, job_id, task_id in submitted:
            polls = sum(1 for e in sandbox.journal if e.task_id == task_id and e.method == "GET")
            logged = jobs.log.get(job_id)
            delay = logged.elapsed_seconds - d
            rows.append(
                (f"{category} job of {d} s: status requests (fewest allowed)", f"{polls} ({fewest_polls(d)})"),
            )
            rows.append((f"{category} job of {d} s: finish → log", f"{delay:.1f} s"))
    return rows


def page_rows() -> list[tuple[str, str]]:
    from streamlit.testing.v1 import AppTest

    from ui.services import MAIN_SCRIPT

    rows = []
    with Sandbox(timing=Timing(image_queued=600, image_processing=600)) as slow, tempfile.TemporaryDirectory() as data:
        os.environ.update(RIVYA_BASE_URL=slow.url, RIVYA_API_KEY=slow.api_key, RIVYA_DATA_DIR=data)
        at = AppTest.from_file(str(MAIN_SCRIPT), default_timeout=60)
        at.run()
        at.switch_page("pages/image.py").run()
        client = RivyaClient(slow.api_key, slow.url)
        jobs = JobService(client, TaskLog(Path(data) / "tasklog.sqlite3"), Path(data), backend=slow.url)
        for n in range(50):
            jobs.submit("grok-imagine", f"in flight {n}", {}, idempotency_key=f"f{n}")
        times = []
        for _ in range(10):
            started = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - started)
        rows.append(("Image page rerun, 50 jobs in flight (median of 10)", f"{statistics.median(times) * 1000:.0f} ms"))

    with Sandbox(timing=Timing(image_queued=1, image_processing=4)) as sandbox, tempfile.TemporaryDirectory() as data:
        os.environ.update(RIVYA_BASE_URL=sandbox.url, RIVYA_API_KEY=sandbox.api_key, RIVYA_DATA_DIR=data)
        at = AppTest.from_file(str(MAIN_SCRIPT), default_timeout=60)
        at.run()
        at.switch_page("pages/image.py").run()
        at.text_area(key="grok-imagine:prompt").input("how long until I see it").run()
        at.button(key="grok-imagine:generate").click().run()
        task = next(iter(sandbox.state.tasks.values()))
        # The browser reruns the job panel every REFRESH_SECONDS; this loop does the same.
        while not any("**Done**" in m.value for m in at.markdown):
            time.sleep(1.0)
            at.run()
        delay = time.monotonic() - (task.started + 5)
        rows.append(("image job of 5 s: finish → shown on the page", f"{delay:.1f} s"))
    return rows


def memory_rows() -> list[tuple[str, str]]:
    fast = Timing(image_queued=0.05, image_processing=0.1)
    with Sandbox(timing=fast, credits=10_000) as sandbox:
        data = Path(tempfile.mkdtemp())
        client = RivyaClient(sandbox.api_key, sandbox.url, poll_schedule=PollSchedule(first_delay=0.2, image_interval=0.2))
        jobs = JobService(client, TaskLog(data / "log.db"), data / "media", backend="s", budget=RequestBudget(rate=200, burst=50))
        before = rss_mb()
        jobs.start()
        for n in range(500):
            jobs.submit("grok-imagine", f"job {n} " + "detail " * (n % 20), {}, idempotency_key=f"m{n}")
        while jobs.log.pending("s"):
            time.sleep(0.2)
        jobs.stop()
        after = rss_mb()
        saved = sum(1 for _ in (data / "media").iterdir())
    return [
        ("Process memory before → after 500 image jobs (sandbox in-process)", f"{before:.0f} → {after:.0f} MB"),
        ("Results saved locally after 500 jobs", f"{saved}"),
    ]


def main() -> None:
    rows = polling_rows() + page_rows() + memory_rows()
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")


if __name__ == "__main__":
    main()
