"""The one definition of "credits charged", used by the spend guard, the ledger, job cards and History.

A job's charge is what the wallet has lost, or may have lost, because of it:

- ``rejected``: 0 - the service refused the create for certain, no task exists.
- ``succeeded`` / ``failed``: ``final_credits``; when a finished task omits it, the
  reservation (then the expected price) - never 0 on a guess.
- anything else (``submitting``, ``queued``, ``processing``, a status we do not know): the
  larger of the reservation and the expected price. A create whose reply was lost may
  have made a task, and the reference says credits are reserved "when the task starts",
  so a queued task's reservation can still grow to the price.

``charged_credits`` and ``CHARGED_SQL`` are the same rule for one job and for SQL
aggregates; ``tests/test_money.py`` checks they agree on every status.
"""

from __future__ import annotations

from .status import JobStatus, sql_in, sql_status

_FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


def charged_credits(status: str, reserved: int | None, final: int | None, expected: int | None) -> int:
    """Credits a job has cost or holds, by the rule above."""
    if status == JobStatus.REJECTED:
        return 0
    if status in _FINISHED:
        return next((v for v in (final, reserved, expected) if v is not None), 0)
    return max(reserved or 0, expected or 0)


def returned_credits(status: str, reserved: int | None, final: int | None) -> int:
    """Credits reserved by a failed task and given back."""
    if status != JobStatus.FAILED or not reserved or final is None:
        return 0
    return max(0, reserved - final)


# The same rule as an SQL expression over the ``jobs`` table (portable: no MAX()/GREATEST()).
CHARGED_SQL = f"""(CASE
    WHEN status = {sql_status(JobStatus.REJECTED)} THEN 0
    WHEN status IN {sql_in(_FINISHED, sep=", ")} THEN COALESCE(final_credits, reserved_credits, expected_credits, 0)
    WHEN COALESCE(reserved_credits, 0) > COALESCE(expected_credits, 0) THEN COALESCE(reserved_credits, 0)
    ELSE COALESCE(expected_credits, 0) END)"""

# ``returned_credits`` for SQL aggregates (``tests/test_ledger.py`` checks the two agree).
RETURNED_SQL = f"""(CASE WHEN status = {sql_status(JobStatus.FAILED)} AND reserved_credits <> 0 AND final_credits IS NOT NULL
    AND reserved_credits > final_credits THEN reserved_credits - final_credits ELSE 0 END)"""
