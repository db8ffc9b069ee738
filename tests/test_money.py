"""One definition of "credits charged": the guard, the ledger, job cards and History figures agree."""

from __future__ import annotations

import itertools
from pathlib import Path

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


def test_guard_ledger_cards_and_figures_agree_in_every_state(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
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


def test_the_sql_and_python_forms_of_the_rule_agree(tmp_path: Path) -> None:
    log = TaskLog(tmp_path / "log.sqlite3")
    values = (None, 0, 4, 10)
    statuses = [*JobStatus, "something-new"]
    cases = list(itertools.product(statuses, values, values, values))
    db = log._db()
    for status, reserved, final, expected in cases:
        row = db.execute(
            f"SELECT {CHARGED_SQL} FROM (SELECT ? AS status, ? AS reserved_credits, ? AS final_credits, ? AS expected_credits)",
            (str(status), reserved, final, expected),
        ).fetchone()
        assert row[0] == charged_credits(str(status), reserved, final, expected), (status, reserved, final, expected)
