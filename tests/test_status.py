"""One home (``rivya.status``) for what every page calls a status and for every status written into SQL."""

from __future__ import annotations

import re

import pytest

from rivya.money import CHARGED_SQL, RETURNED_SQL, charged_credits, returned_credits
from rivya.status import STATUS_WORDS, TERMINAL, JobStatus, sql_in, sql_status, status_word


def test_every_status_has_its_word_and_an_unknown_one_is_shown_as_sent() -> None:
    assert set(STATUS_WORDS) == set(JobStatus)
    assert status_word(JobStatus.REJECTED) == "Not started"
    assert status_word("processing") == "Generating"
    assert status_word("on_hold") == "On hold"  # a status a newer service sends: shown, never hidden
    assert status_word("service-rejected") == "Service-rejected"


def test_the_history_chart_colours_every_status_word() -> None:
    """The chart's colours are keyed by the words; a word changed in one place must not lose its colour."""
    from ui.history import STATUS_COLOURS

    assert set(STATUS_COLOURS) == set(STATUS_WORDS.values())


def test_sql_lists_are_written_one_way_and_only_of_the_apps_statuses() -> None:
    assert sql_in(TERMINAL) == "('succeeded','failed','rejected','unconfirmed')"  # as index jobs_pending reads
    assert sql_in(["failed", JobStatus.SUCCEEDED]) == sql_in([JobStatus.SUCCEEDED, "failed"]) == "('succeeded','failed')"
    assert sql_status("queued") == "'queued'"
    for odd in ("x') OR ('1'='1", "Succeeded", "service-rejected"):
        with pytest.raises(ValueError):
            sql_in([odd])
    with pytest.raises(ValueError):
        sql_in([])


_STATUS_SQL = re.compile(r"status\s*(NOT\s+IN|IN|=|<>|!=)\s*(\([^)]*\)|'[^']*')", re.IGNORECASE)


def _status_conditions(sql: str) -> list[tuple[str, frozenset[str]]]:
    """Every ``status <op> <literal or list>`` in ``sql``: the operator and the statuses it names."""
    return [(op.upper(), frozenset(re.findall(r"'([^']*)'", values))) for op, values in _STATUS_SQL.findall(sql)]


def _all_sql() -> list[str]:
    from rivya.gallery import RESULTS_WHERE
    from rivya.tasklog import CLAIMABLE_WHERE, MIGRATIONS, POSTGRES_MIGRATIONS, POSTGRES_ROLLUP, RESULT_MS_WHERE, ROLLUP

    return [*MIGRATIONS, *(sql for _, sql in POSTGRES_MIGRATIONS), *ROLLUP.values(), *POSTGRES_ROLLUP.values(),
            CLAIMABLE_WHERE, RESULT_MS_WHERE, RESULTS_WHERE, CHARGED_SQL, RETURNED_SQL]


def test_every_status_written_into_sql_is_one_of_the_apps() -> None:
    """A misspelt status in SQL matches no row and fails silently; the shipped migrations are checked too."""
    conditions = [c for sql in _all_sql() for c in _status_conditions(sql)]
    assert len(conditions) > 20
    for _, statuses in conditions:
        assert statuses and statuses <= {s.value for s in JobStatus}, statuses


def test_the_status_sets_in_sql_are_the_python_sets() -> None:
    """Unfinished (the follower's index and query) is not TERMINAL; charged-as-final is what ``charged_credits`` does."""
    pending = [s for sql in _all_sql() for op, s in _status_conditions(sql) if op.startswith("NOT")]
    assert len(pending) >= 3  # both engines' index and the live query
    assert all(s == TERMINAL for s in pending)
    final = frozenset(s.value for s in JobStatus if charged_credits(s, reserved=5, final=3, expected=7) == 3)
    assert [s for op, s in _status_conditions(CHARGED_SQL) if op == "IN"] == [final]
    returned = frozenset(s.value for s in JobStatus if returned_credits(s, reserved=5, final=3))
    assert [s for _, s in _status_conditions(RETURNED_SQL)] == [returned]
