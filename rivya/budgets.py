"""The studio's one calendar: days run midnight to midnight in ``BUDGET_TIMEZONE``.

The daily budgets (the team's and each person's) reset at that midnight, and History counts its days the
same way: figures, charts, date filters and the log's per-day rollup (whose SQL day comes from
``zone_offsets``). The viewer's own zone is for clocks only (``ui.text.local_time``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The span whose changes of UTC offset the rollup's SQL spells out: a stamp before it counts with the offset of
# its first instant, one after it with the last. Wide enough for any job this app can log.
OFFSETS_FROM, OFFSETS_UNTIL = datetime(1970, 1, 1, tzinfo=UTC), datetime(2101, 1, 1, tzinfo=UTC)
_DAY = 86_400


def current_day(timezone: str = "UTC", now: datetime | None = None) -> date:
    """The calendar day it is in ``timezone``."""
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone)).date()


def midnight(day: date, timezone: str = "UTC") -> str:
    """The instant ``day`` starts in ``timezone``, as the log's UTC ISO stamp (they sort as they read)."""
    return datetime.combine(day, time(0), ZoneInfo(timezone)).astimezone(UTC).isoformat(timespec="milliseconds")


def day_start(timezone: str = "UTC", now: datetime | None = None, *, days_back: int = 0) -> str:
    """Midnight ``days_back`` local days before today in ``timezone``, as the log's UTC ISO stamp.

    The spend guards count from it (``days_back=0``), History's figures too (7 days: ``days_back=6``). Days are
    calendar days of that zone: one across a daylight-saving change is 23 or 25 hours.
    """
    return midnight(current_day(timezone, now) - timedelta(days=days_back), timezone)


@lru_cache(maxsize=8)
def zone_offsets(timezone: str) -> tuple[int, tuple[tuple[str, int], ...]]:
    """``timezone``'s UTC offset in seconds at OFFSETS_FROM, then each change until OFFSETS_UNTIL.

    A change is (the UTC stamp, ``YYYY-MM-DDTHH:MM:SS``, from which it holds; the new offset). Read from
    Python's time-zone database, the one ``day_start`` uses, so the rollup's days and the budgets' agree on
    either engine. Found day by day, then to the second: no zone changes its offset twice within a day.
    A name that is no zone is a ``ValueError`` in plain words.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: a path such as "../etc"
        raise ValueError(f"{timezone!r} is not a time zone name such as UTC or Europe/Berlin") from None

    def offset(seconds: int) -> int:
        return int(datetime.fromtimestamp(seconds, zone).utcoffset().total_seconds())  # type: ignore[union-attr]

    start, end = int(OFFSETS_FROM.timestamp()), int(OFFSETS_UNTIL.timestamp())
    first = current = offset(start)
    changes = []
    for moment in range(start + _DAY, end + 1, _DAY):
        if offset(moment) == current:
            continue
        low, high = moment - _DAY, moment  # the change falls after ``low``, at or before ``high``
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if offset(middle) == current else (low, middle)
        current = offset(high)
        changes.append((datetime.fromtimestamp(high, UTC).strftime("%Y-%m-%dT%H:%M:%S"), current))
    return first, tuple(changes)
