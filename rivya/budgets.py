"""Daily credit budgets: the team's and each person's, both reset at local midnight of one time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def day_start(timezone: str = "UTC", now: datetime | None = None) -> str:
    """Today's midnight in ``timezone``, as the log's UTC ISO stamp (the spend guards count from it)."""
    zone = ZoneInfo(timezone)
    local = (now or datetime.now(UTC)).astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC).isoformat(timespec="milliseconds")
