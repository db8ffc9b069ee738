"""History's SQL ledger on a real SQLite log: figures, charts, pages, search and CSV against plain Python."""

from __future__ import annotations

import io
import re
import sqlite3
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rivya.budgets import day_start
from rivya.ledger import CSV_COLUMNS, JobFilter, LedgerView, Spend, match_query
from rivya.money import charged_credits, returned_credits
from rivya.stars import set_star
from rivya.tasklog import Job, TaskLog

NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
TODAY = NOW.date()

# (model, days ago, fields set after the add, milliseconds to a result or None): every status and credits rule.
MIXED = [
    ("grok-imagine", 0, dict(status="succeeded", reserved_credits=4, final_credits=4), 8123),
    ("grok-imagine", 0, dict(status="succeeded", reserved_credits=4, final_credits=4), 20000),
    ("grok-imagine", 2, dict(status="succeeded", reserved_credits=4, final_credits=4), 12500),
    ("grok-imagine", 6, dict(status="succeeded", reserved_credits=4), 3001),  # final not sent: the reservation
    ("grok-imagine", 7, dict(status="succeeded", reserved_credits=4, final_credits=3), 61000),  # just outside 7 days
    ("grok-imagine-video", 0, dict(status="succeeded", reserved_credits=10, final_credits=10), 45250),
    ("grok-imagine-video", 1, dict(status="succeeded", reserved_credits=10, final_credits=10), 30000),
    ("grok-imagine-video", 0, dict(status="failed", reserved_credits=10, final_credits=0), None),  # refunded
    ("grok-imagine-video", 3, dict(status="failed", reserved_credits=10, final_credits=4), None),  # partly refunded
    ("grok-imagine-video", 30, dict(status="failed", reserved_credits=10), None),  # final not sent: counts 10
    ("grok-imagine", 0, dict(status="rejected", error_code="insufficient_credits"), None),
    ("grok-imagine", 0, dict(status="queued", task_id="q1", reserved_credits=0), None),  # nothing reserved yet
    ("grok-imagine-video", 0, dict(status="processing", task_id="p1", reserved_credits=12), None),  # more than expected
    ("grok-imagine", 1, dict(status="unconfirmed"), None),
    ("grok-imagine-video", 2, dict(status="paused", task_id="x1"), None),  # a status the service may add
    ("grok-imagine", 0, {}, None),  # still submitting
]
EXPECTED = {"grok-imagine": 4, "grok-imagine-video": 10}


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def seed_mixed(log: TaskLog) -> None:
    for n, (model, days, fields, ms) in enumerate(MIXED):
        submitted = NOW - timedelta(days=days, minutes=n)
        job = log.add(idempotency_key=f"mixed-{n}", backend="b", model=model, category="image", prompt=f"job {n}",
                      params={}, submitted_at=iso(submitted), expected_credits=EXPECTED[model])
        if ms is not None:
            fields = {**fields, "finished_at": iso(submitted + timedelta(milliseconds=ms))}
        if fields:
            log.update(job.id, **fields)


def all_jobs(log: TaskLog) -> list[Job]:
    return log.many(r[0] for r in log.read("SELECT id FROM jobs"))


def day_of(job: Job) -> date:
    return datetime.fromisoformat(job.submitted_at).astimezone(UTC).date()


def expected_figures(jobs: list[Job]) -> dict:
    """The page's numbers, computed job by job with rivya.money's Python rule."""
    charged = {j.id: charged_credits(j.status, j.reserved_credits, j.final_credits, j.expected_credits) for j in jobs}
    statuses = Counter(j.status for j in jobs)
    finished = statuses["succeeded"] + statuses["failed"]
    times: dict[str, list[float]] = defaultdict(list)
    for j in jobs:
        if j.status == "succeeded" and j.finished_at:
            took = datetime.fromisoformat(j.finished_at) - datetime.fromisoformat(j.submitted_at)
            times[j.model].append(took.total_seconds())
    return {
        "spent_today": sum(charged[j.id] for j in jobs if day_of(j) == TODAY),
        "spent_7_days": sum(charged[j.id] for j in jobs if day_of(j) >= TODAY - timedelta(days=6)),
        "spent_all_time": sum(charged.values()),
        "returned_on_failures": sum(returned_credits(j.status, j.reserved_credits, j.final_credits) for j in jobs),
        "jobs_by_status": dict(statuses),
        "success_rate": statuses["succeeded"] / finished if finished else None,
        "median_seconds_by_model": {m: statistics.median(v) for m, v in times.items()},
        "p90": {m: float(np.quantile(v, 0.9)) for m, v in times.items()},
        "credits_per_day": _sums((day_of(j), j.model, charged[j.id]) for j in jobs),
        "jobs_per_day": _sums((day_of(j), j.status, 1) for j in jobs),
    }


def _sums(triples) -> dict:
    out: dict = defaultdict(int)
    for day, column, value in triples:
        out[(day, column)] += value
    return {k: v for k, v in out.items() if v}


def cells(table: pd.DataFrame) -> dict:
    return {(day, column): int(v) for day, row in table.iterrows() for column, v in row.items() if v}


def check_against_python(view: LedgerView, log: TaskLog) -> None:
    want = expected_figures(all_jobs(log))
    got = view.figures(now=NOW)
    for name in ("spent_today", "spent_7_days", "spent_all_time", "returned_on_failures", "success_rate"):
        assert getattr(got, name) == pytest.approx(want[name]), name
    assert got.jobs_by_status == want["jobs_by_status"]
    assert list(got.jobs_by_status.values()) == sorted(got.jobs_by_status.values(), reverse=True)
    assert got.median_seconds_by_model == pytest.approx(want["median_seconds_by_model"], rel=1e-12)
    times = view.time_to_result()
    assert dict(times["median"]) == pytest.approx(want["median_seconds_by_model"], rel=1e-12)
    assert dict(times["p90"]) == pytest.approx(want["p90"], rel=1e-12)
    assert cells(view.credits_per_day()) == want["credits_per_day"]
    assert cells(view.jobs_per_day()) == want["jobs_per_day"]
    assert view.total() == view.count(JobFilter()) == len(all_jobs(log))


def test_figures_and_charts_equal_a_python_computation_and_follow_changes(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    seed_mixed(log)
    view = LedgerView(log)
    check_against_python(view, log)
    assert view.figures(now=NOW).spent_7_days == 4 + 4 + 4 + 4 + 10 + 10 + 0 + 4 + 0 + 4 + 12 + 4 + 10 + 4
    # Changes reach every figure (the rollup's triggers, and the cache keyed on the log's change counter).
    queued = log.by_key("mixed-11")
    log.update(queued.id, status="succeeded", reserved_credits=4, final_credits=4, finished_at=iso(NOW + timedelta(seconds=9)))
    log.update(log.by_key("mixed-8").id, final_credits=10)  # a refund taken back
    log.add(idempotency_key="new", backend="b", model="flux", category="image", prompt="new", params={},
            submitted_at=iso(NOW - timedelta(days=4)), expected_credits=7)
    with sqlite3.connect(log.path) as other:  # another process removes a row
        other.execute("DELETE FROM jobs WHERE idempotency_key = 'mixed-0'")
    check_against_python(view, log)
    assert "flux" in view.choices().models and view.figures(now=NOW).jobs_by_status["submitting"] == 2


def test_running_and_stuck_counts(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    seed_mixed(log)
    view = LedgerView(log)
    assert view.running(stuck_after=300, now=NOW - timedelta(days=2)) == (4, 0)  # queued, processing, paused, submitting
    assert view.running(stuck_after=300, now=datetime.now(UTC) + timedelta(days=2)) == (4, 4)


# -- pages, filters and search ---------------------------------------------------------

WORDS = ["fox", "lighthouse", "dawn", "café", "river", "ca", "orchid"]
MODELS = ["grok-imagine", "grok-imagine-video", "flux"]
STATUSES = ["succeeded", "succeeded", "succeeded", "failed", "queued"]


PEOPLE = ["ana@example.com", "bo@example.com", None, "ana@example.com", "cy@example.com"]  # None: nobody signed in


def seed_many(log: TaskLog, count: int = 260) -> list[dict]:
    """``count`` jobs over ten days, made by PEOPLE in turn, some starred; returns them as plain dicts, oldest first.

    Every 5th job is starred by the team (''), every 4th by ana, every 9th by bo.
    """
    rows = []
    for n in range(count):
        words = [WORDS[n % 7], WORDS[n // 7 % 7], WORDS[n // 49 % 7]][: 1 + n % 3]
        prompt = " ".join(words) + (" !!" if n % 17 == 0 else "") + (" 100%" if n % 23 == 0 else "")
        model, status = MODELS[n % 3], STATUSES[(n // 3) % 5] if n % 50 else "rejected"
        submitted = NOW - timedelta(days=(count - n) % 10, minutes=count - n)
        person = PEOPLE[n % len(PEOPLE)]
        job = log.add(idempotency_key=f"many-{n}", backend="b", model=model, category="image", prompt=prompt, params={},
                      submitted_at=iso(submitted), expected_credits=4, person=person, person_name=person)
        log.update(job.id, status=status, reserved_credits=4)
        stars = {owner for owner, every in (("", 5), ("ana@example.com", 4), ("bo@example.com", 9)) if n % every == 0}
        for owner in stars:
            set_star(log, job.id, owner, True)
        rows.append({"id": job.id, "model": model, "status": status, "day": submitted.date(), "prompt": prompt,
                     "person": person, "stars": stars})
    return rows


def python_filter(rows: list[dict], jobs: JobFilter) -> list[int]:
    """Ids matching ``jobs``, newest first: words as match_query promises, else a literal substring."""
    def text_ok(prompt: str) -> bool:
        chunks = [c for c in jobs.text.split() if re.search(r"[^\W_]", c)]
        if not jobs.text.strip():
            return True
        if not chunks:
            return jobs.text.strip().lower() in prompt.lower()
        tokens = [t.replace("é", "e") for t in re.findall(r"[^\W_]+", prompt.lower())]
        for chunk in chunks:
            word = re.findall(r"[^\W_]+", chunk.lower())[0].replace("é", "e")
            if not any(t == word or (len(word) >= 3 and t.startswith(word)) for t in tokens):
                return False
        return True

    return [
        r["id"] for r in reversed(rows)
        if (not jobs.models or r["model"] in jobs.models) and (not jobs.statuses or r["status"] in jobs.statuses)
        and (not jobs.start or r["day"] >= jobs.start) and (not jobs.end or r["day"] <= jobs.end) and text_ok(r["prompt"])
        and (jobs.person is None or r["person"] == jobs.person) and (jobs.starred_by is None or jobs.starred_by in r["stars"])
    ]


FILTERS = [
    JobFilter(),
    JobFilter(models=("flux",)),
    JobFilter(statuses=("queued",)),
    JobFilter(statuses=("rejected",)),
    JobFilter(statuses=("failed", "rejected"), models=("grok-imagine", "flux")),
    JobFilter(start=TODAY - timedelta(days=2), end=TODAY - timedelta(days=1)),
    JobFilter(statuses=("succeeded",), start=TODAY - timedelta(days=9), end=TODAY),
    JobFilter(text="FOX"),
    JobFilter(text="light"),  # a prefix
    JobFilter(text="cafe"),  # accents ignored
    JobFilter(text="ca"),  # two letters: the whole word only
    JobFilter(text="dawn fox"),  # every word, any order
    JobFilter(text="fox", models=("grok-imagine-video",), statuses=("succeeded",)),
    JobFilter(text="!!"),  # no letters: a literal search
    JobFilter(text="%"),  # LIKE's wildcard, taken literally
    JobFilter(text="river", start=TODAY - timedelta(days=3)),
    JobFilter(person="ana@example.com"),  # Mine
    JobFilter(person="cy@example.com", models=("flux",), start=TODAY - timedelta(days=6)),
    JobFilter(person="bo@example.com", text="fox"),
    JobFilter(starred_by=""),  # Favourites while nobody is signed in: the team's stars
    JobFilter(starred_by="ana@example.com", statuses=("succeeded",)),
    JobFilter(starred_by="bo@example.com", text="river"),
    JobFilter(starred_by="ana@example.com", person="ana@example.com"),  # my favourites among my own jobs
]


@pytest.mark.parametrize("jobs", FILTERS, ids=[repr(f) for f in FILTERS])
def test_counts_pages_and_csv_match_a_python_filter(tmp_path: Path, jobs: JobFilter) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    rows = seed_many(log)
    view = LedgerView(log)
    want = python_filter(rows, jobs)
    assert want, "each filter should match something"
    assert view.count(jobs) == len(want)
    for offset in (0, 100, 200):
        page = view.page(jobs, offset=offset, limit=100)
        assert list(page["id"]) == want[offset : offset + 100], offset
    csv = pd.read_csv(io.BytesIO(view.to_csv(jobs)))
    assert list(csv.columns) == CSV_COLUMNS and list(csv["id"]) == want


def query_plan(log: TaskLog, sql: str, args: list) -> str:
    """SQLite's plan for one query, its steps joined by spaces."""
    return " ".join(r[3] for r in log.read("EXPLAIN QUERY PLAN " + sql, args))


def test_the_table_query_reads_the_narrowest_index_or_walks_the_table(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    seed_many(log)
    view = LedgerView(log)

    def plan(jobs: JobFilter) -> str:
        return query_plan(log, *view._select(jobs, "LIMIT 100", 100))

    assert plan(JobFilter(models=("grok-imagine", "flux"))) == "SCAN j"  # two thirds of the log: newest first, 100 soonest
    assert "USING COVERING INDEX jobs_model" in plan(JobFilter(models=("flux",)))  # a third: ids from the index
    assert "INDEX jobs_status" in plan(JobFilter(statuses=("rejected",), models=("flux",)))  # of six rejected jobs
    assert "jobs_fts VIRTUAL TABLE" in plan(JobFilter(text="fox", models=("flux",))).split(" SEARCH j")[0]


@pytest.mark.parametrize("text", ['"', "'", '""', '"fox', 'fox"', "*", "fox*", "-fox", "^fox", "(", ")", "AND", "OR fox",
                                  "NEAR(fox dawn)", "prompt:fox", "fox:", "{prompt}: fox", "\\", "%_", "   ", "🦊", "a\"b"])
def test_any_text_searches_without_error(tmp_path: Path, text: str) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    seed_many(log, 40)
    log.add(idempotency_key="quotes", backend="b", model="m", category="image", params={},
            prompt='say "fox" with a\'s and a"b 🦊 \\ {prompt}: %_')
    view = LedgerView(log)
    jobs = JobFilter(text=text.strip())
    count = view.count(jobs)
    assert len(view.page(jobs)) == min(count, 100)
    if text.strip() in ('"', "'", "\\", "%_", "🦊"):  # nothing to index: found literally, in the one prompt holding it
        assert count == 1


def test_search_follows_prompt_changes_and_removals(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    job = log.add(idempotency_key="a", backend="b", model="m", category="image", prompt="an orchid", params={})
    view = LedgerView(log)
    assert view.count(JobFilter(text="orchid")) == 1
    with sqlite3.connect(log.path) as db:
        db.execute("UPDATE jobs SET prompt = 'a kite' WHERE id = ?", (job.id,))
    assert view.count(JobFilter(text="orchid")) == 0 and view.count(JobFilter(text="kite")) == 1
    with sqlite3.connect(log.path) as db:
        db.execute("DELETE FROM jobs")
    assert view.count(JobFilter(text="kite")) == 0 and view.total() == 0


def test_match_query_quotes_every_word() -> None:
    assert match_query("Red FOX") == '"Red"* AND "FOX"*'
    assert match_query('a "b" 4k') == '"a" AND """b""" AND "4k"'
    assert match_query("don't  lighthouse!") == '"don\'t" AND "lighthouse!"*'
    assert match_query("!!! ... --") is None and match_query("") is None


def test_csv_is_exactly_what_pandas_wrote_before(tmp_path: Path) -> None:
    """The CSV, byte for byte, as the earlier pandas export wrote it (times in UTC with milliseconds)."""
    log = TaskLog(tmp_path / "log.sqlite3")
    prompts = ['a, "quoted" fox', "line\nbreak", "café ünïcode 🦊", "  spaces  ", "semi;colon"]
    for n, prompt in enumerate(prompts):
        job = log.add(idempotency_key=str(n), backend="b", model="grok-imagine", category="image", prompt=prompt,
                      params={"n": n, "s": "x,y"}, submitted_at=f"2025-01-0{n + 1}T10:00:0{n}.12{n}+00:00", expected_credits=4)
        if n % 2 == 0:
            log.update(job.id, status="succeeded", reserved_credits=4, final_credits=4, result_urls=["https://e/x"],
                       finished_at=f"2025-01-0{n + 1}T10:00:1{n}.5+00:00", media_paths=["/m/x.png"], task_id=f"t{n}")
        else:
            log.update(job.id, status="failed", reserved_credits=4, final_credits=0, error_code="e", error_message='bad, "very"')
    df = log.frame()
    df["seconds_to_result"] = (df["finished_at"] - df["submitted_at"]).dt.total_seconds().where(df["status"] == "succeeded")
    out = df[CSV_COLUMNS].copy()
    for column in ("submitted_at", "finished_at"):
        out[column] = out[column].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").str.replace(r"\d{3}Z$", "Z", regex=True)
    assert LedgerView(log).to_csv(JobFilter()) == out.to_csv(index=False).encode("utf-8")
    chunks = list(LedgerView(log).csv_chunks(JobFilter(), chunk_rows=2))
    assert len(chunks) == 3 and b"".join(chunks) == out.to_csv(index=False).encode("utf-8")


def test_empty_log(tmp_path: Path) -> None:
    view = LedgerView(TaskLog(tmp_path / "log.sqlite3"))
    figures = view.figures()
    assert (figures.spent_all_time, figures.jobs_by_status, figures.success_rate) == (0, {}, None)
    assert view.credits_per_day().empty and view.time_to_result().empty and view.page(JobFilter()).empty
    assert view.choices().first_day is None and view.to_csv(JobFilter()).decode().strip() == ",".join(CSV_COLUMNS)


def test_times_to_a_result_walk_their_index(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    seed_mixed(log)
    seen: list[str] = []
    log._db().set_trace_callback(seen.append)
    LedgerView(log).time_to_result()
    log._db().set_trace_callback(None)
    walks = [s for s in seen if "OFFSET" in s]
    assert len(walks) == 4  # median and 90th percentile of two models
    for sql in walks:
        plan = query_plan(log, sql, [])
        assert plan == "SEARCH jobs USING INDEX jobs_result_ms (model=?)", plan  # no table scan, no sort


def test_mine_and_favourites_read_their_indexes(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    seed_many(log)
    view = LedgerView(log)

    def plan(jobs: JobFilter) -> str:
        return query_plan(log, *view._select(jobs, "LIMIT 100", 100))

    def count_plan(jobs: JobFilter) -> str:
        return query_plan(log, *view._count_sql(jobs))

    favourites = plan(JobFilter(starred_by="ana@example.com", models=("flux",)))
    assert favourites.startswith("SEARCH s USING COVERING INDEX stars_person") and "TEMP B-TREE" not in favourites
    assert "USING COVERING INDEX jobs_person (person=?)" in plan(JobFilter(person="cy@example.com", models=("flux",)))
    assert "INDEX jobs_person" in count_plan(JobFilter(person="cy@example.com", models=("flux",)))
    assert count_plan(JobFilter(starred_by="")).startswith("SEARCH stars USING COVERING INDEX stars_person")
    assert count_plan(JobFilter(starred_by="", models=("flux",))).startswith("SEARCH s USING COVERING INDEX stars_person")


def test_local_midnight_counts_calendar_days_of_the_zone() -> None:
    # 2026-04-02 00:30 in Berlin (summer time since March 29): six local days back is March 27, still winter time.
    now = datetime(2026, 4, 1, 22, 30, tzinfo=UTC)
    assert day_start("Europe/Berlin", now) == "2026-04-01T22:00:00.000+00:00"
    assert day_start("Europe/Berlin", now, days_back=6) == "2026-03-26T23:00:00.000+00:00"
    assert day_start("UTC", now, days_back=6) == "2026-03-26T00:00:00.000+00:00"


def test_spend_per_person_counts_days_where_the_budgets_reset(tmp_path: Path) -> None:
    """Los Angeles (UTC-8 in November): "today" and "7 days" start at local midnight, not UTC's."""
    now = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 21:00 on the 24th in Los Angeles
    log = TaskLog(tmp_path / "log.sqlite3")
    # (person, submitted (UTC), fields)
    made = [
        ("ana@example.com", datetime(2026, 11, 25, 4, 0), dict(status="succeeded", reserved_credits=4, final_credits=4)),
        ("ana@example.com", datetime(2026, 11, 24, 9, 0), dict(status="failed", reserved_credits=10, final_credits=0)),
        ("ana@example.com", datetime(2026, 11, 24, 8, 30), dict(status="processing", reserved_credits=10)),  # LA today
        ("ana@example.com", datetime(2026, 11, 24, 7, 30), dict(status="succeeded", reserved_credits=4, final_credits=3)),
        ("ana@example.com", datetime(2026, 11, 18, 8, 30), dict(status="succeeded", reserved_credits=10, final_credits=10)),
        ("ana@example.com", datetime(2026, 11, 18, 7, 30), dict(status="succeeded", reserved_credits=4, final_credits=4)),
        ("ana@example.com", datetime(2026, 11, 24, 10, 0), dict(status="rejected")),
        ("bo@example.com", datetime(2026, 11, 24, 12, 0), dict(status="succeeded", reserved_credits=4, final_credits=4)),
        (None, datetime(2026, 11, 20, 12, 0), dict(status="succeeded", reserved_credits=10, final_credits=10)),
    ]
    for n, (person, submitted, fields) in enumerate(made):
        job = log.add(idempotency_key=f"p{n}", backend="b", model="grok-imagine", category="image", prompt="p", params={},
                      submitted_at=iso(submitted.replace(tzinfo=UTC)), expected_credits=4, person=person,
                      person_name={"ana@example.com": "Ana", "bo@example.com": "Bo"}.get(person or ""))
        log.update(job.id, **fields)
    view = LedgerView(log)
    # today in LA: 4 + 0 + 10 (held by the running job) + 0 (refused); 7 days adds 3 (the 23rd) and 10 (the 18th)
    assert view.person_spend("ana@example.com", timezone="America/Los_Angeles", now=now) == Spend(14, 27, 31)
    # the same jobs by UTC days: only the 25th is today; the 18th is outside the week
    assert view.person_spend("ana@example.com", timezone="UTC", now=now) == Spend(4, 17, 31)
    assert view.person_spend("nobody@example.com", timezone="UTC", now=now) == Spend(0, 0, 0)
    table = view.spend_by_person(timezone="America/Los_Angeles", now=now)
    assert [(p.person, p.name, p.jobs, p.spend) for p in table] == [
        ("ana@example.com", "Ana", 7, Spend(14, 27, 31)),
        (None, "", 1, Spend(0, 10, 10)),
        ("bo@example.com", "Bo", 1, Spend(4, 4, 4)),
    ]
    # what the per-person budget guard counts for today is the same figure
    assert log.committed_credits_since(day_start("America/Los_Angeles", now), person="ana@example.com") == 14
    # a new job shows at once (only the totals of jobs over a week old are kept a while)
    job = log.add(idempotency_key="new", backend="b", model="grok-imagine", category="image", prompt="p", params={},
                  submitted_at=iso(datetime(2026, 11, 25, 4, 30, tzinfo=UTC)), expected_credits=4, person="ana@example.com")
    assert view.person_spend("ana@example.com", timezone="America/Los_Angeles", now=now) == Spend(18, 31, 35)
    assert view.spend_by_person(timezone="America/Los_Angeles", now=now)[0].spend == Spend(18, 31, 35)
    assert job.status == "submitting"  # still being sent: it holds its expected price
