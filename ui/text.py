"""Showing text that came from people or the service: as text, never as markdown or HTML."""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|<>~$:=])")


def md_escape(text: str) -> str:
    """Escape every markdown-active character so the text shows exactly as written."""
    flat = " ".join(str(text).split()) if "\n" in str(text) else str(text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def seconds(value: float) -> str:
    """12 s, 1 min 05 s."""
    value = round(value)
    return f"{value} s" if value < 60 else f"{value // 60} min {value % 60:02d} s"


def credits_text(value: int | None) -> str:
    """1,234, or — when the amount is unknown."""
    return "—" if value is None else f"{value:,}"
