"""Status words: one home (``rivya.status``) for what every page calls a status."""

from __future__ import annotations

from rivya.status import STATUS_WORDS, JobStatus, status_word


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
