"""A row of headline figures as one element: each a label over a large value, as ``st.metric`` draws one.

One ``st.html`` a row rather than one ``st.metric`` a figure: the browser builds each metric as a component of its
own (its label through the Markdown renderer, its value, their styles). Ten metrics added to reference app (b) made
its warm visit 1.15x (b)'s own (timed in turns), and History showed six to eleven of them on every visit. Side by side
with the metrics (``benchmarks.checkouts``, 12 pairs a run, two runs), History's warm visit took 0.92-0.95x the time
and its sidebar switch 0.90-0.96x."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import streamlit as st

FIGURE_PX = 150  # a figure's least width: five in a row at 1400 px, two a row on a phone (the row wraps)
# The figures' look: st.metric's sizes; colours from the page (the theme's text colour, lighter for notes). Under
# ``.stHtml`` (the element Streamlit draws an st.html in): its own list styles indent a <dl> and would win otherwise.
STYLE = (
    "<style>"
    ".stHtml .studio-figures{display:flex;flex-wrap:wrap;gap:1rem;margin:0;padding:0}"
    f".stHtml .studio-figure{{min-width:{FIGURE_PX}px;max-width:100%;margin:0;padding:0}}"
    ".stHtml .studio-figure dt{font-size:0.875rem;line-height:1.6;margin:0;padding:0}"
    ".stHtml .studio-figure dd{font-size:2.25rem;line-height:1.2;margin:0;padding:0;overflow-wrap:anywhere}"
    ".stHtml .studio-figure small,.stHtml .studio-figures-note{display:block;font-size:0.875rem;opacity:0.6;margin:0}"
    ".stHtml .studio-figures-note{margin-top:0.5rem}"
    "</style>"
)


@dataclass(frozen=True)
class Figure:
    """One figure: what it counts, its value in words, and an optional line under it (when it was read)."""

    label: str
    value: str
    note: str = ""


def figures_html(figures: Sequence[Figure], note: Sequence[str] = ()) -> str:
    """The row's markup: a description list (each label names its value for a screen reader), every text escaped."""
    items = "".join(
        f'<div class="studio-figure"><dt>{escape(f.label)}</dt><dd>{escape(f.value)}</dd>'
        + (f"<small>{escape(f.note)}</small>" if f.note else "") + "</div>"
        for f in figures
    )
    lines = "<br>".join(escape(line) for line in note)
    return (STYLE + f'<dl class="studio-figures">{items}</dl>'
            + (f'<p class="studio-figures-note">{lines}</p>' if lines else ""))


def figure_row(figures: Sequence[Figure], note: Sequence[str] = (), *, beside: bool = False) -> None:
    """Draw ``figures`` in a row that wraps, with ``note``'s lines under it in small type; ``beside``: only as wide
    as the figures, so what follows in a horizontal container sits next to them."""
    st.html(figures_html(figures, note), width="content" if beside else "stretch")
