"""History's figure rows (ui/figures.py): one element whose every text is escaped."""

from __future__ import annotations

from ui.figures import Figure, figures_html


def test_every_text_of_a_figure_row_is_escaped() -> None:
    row = figures_html([Figure("<b>Spent</b>", "1 & 2", "<img src=x onerror=alert(1)>")], ["<script>alert(1)</script>"])
    body = row.split("</style>", 1)[1]
    assert "<b>" not in body and "<img" not in body and "<script>" not in body
    assert "&lt;b&gt;Spent&lt;/b&gt;" in body and "1 &amp; 2" in body and "&lt;script&gt;" in body


def test_a_row_without_notes_has_no_note_paragraph() -> None:
    row = figures_html([Figure("Spent today", "8")])
    assert "<dt>Spent today</dt><dd>8</dd>" in row and "studio-figures-note" not in row.split("</style>", 1)[1]
