"""Calendar bounds computed in Python and passed to the store ("now" never comes from the DB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def local_midnight(now: datetime, tz: ZoneInfo) -> datetime:
    """Start of ``now``'s local day in ``tz``, as UTC."""
    local = now.astimezone(tz)
    start = datetime(local.year, local.month, local.day, tzinfo=tz)
    return start.astimezone(UTC)


def week_starts(now: datetime, tz: ZoneInfo, weeks: int) -> list[datetime]:
    """Local Monday 00:00 of the last ``weeks`` weeks (oldest first, current last), as UTC."""
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).date()
    starts = []
    for back in range(weeks - 1, -1, -1):
        day = monday - timedelta(weeks=back)
        starts.append(datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC))
    return starts


def day_starts(since: datetime, until: datetime, tz: ZoneInfo) -> list[datetime]:
    """Local midnights (as UTC) of every day touching [since, until]."""
    first = local_midnight(since, tz).astimezone(tz).date()
    last = until.astimezone(tz).date()
    out = []
    day = first
    while day <= last:
        out.append(datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC))
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
