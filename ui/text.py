"""Showing text that came from people or the service: as text, never as markdown or HTML."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|<>~$:=])")
# Streamlit's markdown (remark-gfm) turns bare web and mail addresses into links by searching the text after escapes
# are resolved, so no escape stops it. An invisible word joiner (U+2060) inside each pattern it looks for does: after
# the colon of "://", between "www" and its dot, after an "@". The text still reads as typed.
_AUTOLINKED = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def md_escape(text: str) -> str:
    """Escape every markdown-active character, and break bare addresses, so the text shows exactly as written."""
    flat = " ".join(str(text).split()) if "\n" in str(text) else str(text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _AUTOLINKED.sub(WORD_JOINER, flat))


def shorten(text: str, length: int) -> str:
    """``text`` on one line, cut to ``length`` characters with "…" when longer (lists, tiles, toasts)."""
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"


def seconds(value: float) -> str:
    """12 s, 1 min 05 s."""
    value = round(value)
    return f"{value} s" if value < 60 else f"{value // 60} min {value % 60:02d} s"


def credits_text(value: int | None) -> str:
    """1,234, or — when the amount is unknown."""
    return "—" if value is None else f"{value:,}"


def days_note(timezone: str) -> str:
    """The studio's one calendar (budgets, figures, charts, date filters) in words; clocks are the viewer's."""
    return f"Days run midnight to midnight, {timezone}."


def viewer_timezone() -> ZoneInfo:
    """The timezone the viewer's browser reports; UTC when it reports none or a name this server does not know."""
    try:
        name = st.context.timezone
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # ValueError: a path such as "../etc"
        return ZoneInfo("UTC")


def local_time(iso: str, *, now: datetime | None = None, tz: ZoneInfo | None = None) -> str:
    """``14:05 CET`` today, ``Nov 21, 14:05 CET`` earlier this year, ``Nov 21 2025, 14:05 CET`` before that.

    ``tz`` defaults to the viewer's timezone; "today" is the viewer's day, not the server's.
    A stored time without an offset is UTC (the task log writes UTC).
    """
    zone = tz or viewer_timezone()
    when = datetime.fromisoformat(iso)
    when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(zone)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    clock = f"{when:%H:%M} {when.tzname()}"
    if when.date() == today:
        return clock
    day = f"{when:%b} {when.day}" if when.year == today.year else f"{when:%b} {when.day} {when.year}"
    return f"{day}, {clock}"
