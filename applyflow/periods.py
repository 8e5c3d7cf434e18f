"""Calendar bounds computed in Python and passed to the store ("now" never comes from the DB).

Every bound is an aware UTC datetime; local days and weeks follow ``tz`` across DST changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """Local 00:00 of ``day`` in ``tz``, as UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def local_midnight(now: datetime, tz: ZoneInfo) -> datetime:
    """Start of ``now``'s local day in ``tz``, as UTC."""
    return _midnight(now.astimezone(tz).date(), tz)


def next_local_midnight(start: datetime, tz: ZoneInfo, days: int = 1) -> datetime:
    """Local midnight ``days`` calendar days after ``start``'s local day, as UTC (a local day
    is 23 or 25 hours long when the clocks change)."""
    return _midnight(start.astimezone(tz).date() + timedelta(days=days), tz)


def application_windows(now: datetime, tz: ZoneInfo) -> dict[str, datetime]:
    """Where the application stats' windows start (each ends at ``now``): ``today`` at local
    midnight, ``week`` at ``now - 7 * 24 h``, ``month`` at ``now - 30 * 24 h``."""
    return {
        "today": local_midnight(now, tz),
        "week": now - timedelta(days=7),
        "month": now - timedelta(days=30),
    }


def week_starts(now: datetime, tz: ZoneInfo, weeks: int) -> list[datetime]:
    """Local Monday 00:00 of the last ``weeks`` weeks (oldest first, current last), as UTC."""
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).date()
    return [_midnight(monday - timedelta(weeks=back), tz) for back in range(weeks - 1, -1, -1)]


def week_edges(now: datetime, tz: ZoneInfo, weeks: int) -> list[datetime]:
    """``week_starts`` plus the end of the current week: week i is ``[edges[i], edges[i+1])``."""
    starts = week_starts(now, tz, weeks)
    return [*starts, next_local_midnight(starts[-1], tz, days=7)] if starts else []


def day_starts(since: datetime, until: datetime, tz: ZoneInfo) -> list[datetime]:
    """Local midnights (as UTC) of every day touching [since, until]."""
    day, last = since.astimezone(tz).date(), until.astimezone(tz).date()
    out = []
    while day <= last:
        out.append(_midnight(day, tz))
        day += timedelta(days=1)
    return out


def hour_starts(since: datetime, until: datetime) -> list[datetime]:
    """Every UTC hour start touching [since, until]."""
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    out = []
    while start <= until:
        out.append(start)
        start += timedelta(hours=1)
    return out


def spend_bucket_edges(
    bucket: Literal["hour", "day"], since: datetime, until: datetime, tz: ZoneInfo
) -> list[datetime]:
    """Bucket starts touching [since, until] plus the end of the last bucket: bucket i is
    ``[edges[i], edges[i+1])``. Hours are UTC hours; days are whole local days in ``tz``.
    Empty when ``until`` is before ``since``'s bucket. ``ValueError`` for another bucket."""
    if bucket == "hour":
        starts = hour_starts(since, until)
        end = starts[-1] + timedelta(hours=1) if starts else None
    elif bucket == "day":
        starts = day_starts(since, until, tz)
        end = next_local_midnight(starts[-1], tz) if starts else None
    else:
        raise ValueError(f"spend bucket must be 'hour' or 'day', not {bucket!r}")
    return [*starts, end] if end is not None else []


def budget_scopes(
    now: datetime, tz: ZoneInfo, run_id: str | None = None, job_id: str | None = None
) -> dict[str, str]:
    """Scope kind -> scope key for a call made at ``now``: total, month, day, run, job."""
    local = now.astimezone(tz)
    scopes = {
        "total": "total",
        "month": f"month:{local:%Y-%m}",
        "day": f"day:{local:%Y-%m-%d}",
    }
    if run_id:
        scopes["run"] = f"run:{run_id}"
    if job_id:
        scopes["job"] = f"job:{job_id}"
    return scopes
