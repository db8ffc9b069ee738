"""One definition of "credits charged": the guard, the ledger, job cards and History figures agree."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from rivya import ledger
from rivya.money import CHARGED_SQL, charged_credits
from rivya.status import JobStatus
from rivya.tasklog import TaskLog

# One job in each state the issue names, with the reservation the service reported (if any).
STATES = {
    "submitting": dict(status=JobStatus.SUBMITTING),  # reply lost: may be charged, counts its price
    "queued": dict(status=JobStatus.QUEUED, task_id="t1", reserved_credits=10),
    "queued, nothing reserved yet": dict(status=JobStatus.QUEUED, task_id="t2", reserved_credits=0),
    "failed": dict(status=JobStatus.FAILED, task_id="t3", reserved_credits=10, final_credits=0),
    "failed, final not sent": dict(status=JobStatus.FAILED, task_id="t4", reserved_credits=10),
    "succeeded": dict(status=JobStatus.SUCCEEDED, task_id="t5", reserved_credits=10, final_credits=10),
    "rejected": dict(status=JobStatus.REJECTED, error_code="insufficient_credits"),
    "unknown status": dict(status="paused", task_id="t6"),
}
EXPECTED = {
    "submitting": 10, "queued": 10, "queued, nothing reserved yet": 10, "failed": 0, "failed, final not sent": 10,
    "succeeded": 10, "rejected": 0, "unknown status": 10,
}


@pytest.fixture
def log(log_location: Path | str) -> Iterator[TaskLog]:
    opened = TaskLog(log_location)
    yield opened
    opened.close()


def test_guard_ledger_cards_and_figures_agree_in_every_state(log: TaskLog) -> None:
    jobs = {}
    for name, fields in STATES.items():
        row = log.add(idempotency_key=name, backend="b", model="grok-imagine-video", category="video", prompt=name,
                      params={}, expected_credits=10)
        jobs[name] = log.update(row.id, **fields) if fields["status"] != JobStatus.SUBMITTING else row
    view = ledger.LedgerView(log)
    table = view.page(ledger.JobFilter()).set_index("prompt")  # History's table (and CSV) rows
    for name, job in jobs.items():
        card = log.get(job.id).charged_credits  # what the job card shows
        assert card == EXPECTED[name], name
        assert int(table.loc[name, "charged_credits"]) == card, name
    total = sum(EXPECTED.values())
    assert log.committed_credits_since("2000-01-01") == total  # the spend guard
    assert view.figures().spent_all_time == total  # History's figure (from the rollup the log's triggers keep)
    assert int(view.credits_per_day().to_numpy().sum()) == total  # History's chart


def test_the_sql_and_python_forms_of_the_rule_agree(log: TaskLog) -> None:
    values = (None, 0, 4, 10)
    statuses = [*JobStatus, "something-new"]
    cases = list(itertools.product(statuses, values, values, values))
    got: dict[int, int] = {}
    for start in range(0, len(cases), 200):  # a few queries of 200 cases (SQLite allows 500 terms in one UNION)
        batch = cases[start : start + 200]
        # Typed columns: PostgreSQL does not guess a NULL parameter's type.
        rows = " UNION ALL ".join(
            "SELECT ? AS n, CAST(? AS TEXT) AS status, CAST(? AS INTEGER) AS reserved_credits, "
            "CAST(? AS INTEGER) AS final_credits, CAST(? AS INTEGER) AS expected_credits"
            for _ in batch
        )
        args = [v for n, case in enumerate(batch, start) for v in (n, str(case[0]), *case[1:])]
        got.update((n, value) for n, value in log.read(f"SELECT n, {CHARGED_SQL} FROM ({rows}) AS c", args))
    for n, (status, reserved, final, expected) in enumerate(cases):
        assert got[n] == charged_credits(str(status), reserved, final, expected), (status, reserved, final, expected)
