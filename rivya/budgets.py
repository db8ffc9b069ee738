"""Daily credit budgets: the team's and each person's, both reset at local midnight of one time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def day_start(timezone: str = "UTC", now: datetime | None = None, *, days_back: int = 0) -> str:
    """Midnight ``days_back`` local days before today in ``timezone``, as the log's UTC ISO stamp.

    The spend guards count from it (``days_back=0``), History's figures too (7 days: ``days_back=6``). Days are
    calendar days of that zone: one across a daylight-saving change is 23 or 25 hours.
    """
    zone = ZoneInfo(timezone)
    day = (now or datetime.now(UTC)).astimezone(zone).date() - timedelta(days=days_back)
    return datetime.combine(day, time(0), zone).astimezone(UTC).isoformat(timespec="milliseconds")
