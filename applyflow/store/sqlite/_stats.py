"""Stats in the SQLite store: each count is a range scan of an index (``jobs_applied``)."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from applyflow import periods
from applyflow.models import ApplicationStats, Status, WeekCount
from applyflow.store.sqlite._db import BUCKETS_CTE, Database, from_us, to_us
from applyflow.store.stats import StatsStore


class SQLiteStats(Database, StatsStore):
    """``StatsStore`` on SQLite."""

    def status_counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for row in self._all("SELECT status, count(*) FROM jobs GROUP BY status"):
            counts[row[0]] = row[1]
        return counts

    def application_stats(self, now: datetime, tz: ZoneInfo) -> ApplicationStats:
        # Each count is a range scan of the applied_at index.
        bounds = periods.application_windows(now, tz).values()  # today, week, month
        counts = ", ".join(["(SELECT count(*) FROM jobs WHERE applied_at BETWEEN ? AND ?)"] * 3)
        row = self._all(
            f"SELECT {counts}, (SELECT count(*) FROM jobs WHERE applied_at IS NOT NULL)",
            [us for bound in bounds for us in (to_us(bound), to_us(now))],
        )[0]
        return ApplicationStats(today=row[0], week=row[1], month=row[2], total=row[3])

    def weekly_applications(self, now: datetime, tz: ZoneInfo, weeks: int = 12) -> list[WeekCount]:
        edges = [to_us(edge) for edge in periods.week_edges(now, tz, weeks)]
        bounds = list(zip(edges, edges[1:], strict=False))
        rows = self._all(
            # One index range count per week, not a join + GROUP BY (docs/benchmarks.md).
            f"{BUCKETS_CTE} SELECT b.lo,"
            " (SELECT count(*) FROM jobs WHERE applied_at >= b.lo AND applied_at < b.hi)"
            " FROM b ORDER BY b.lo",
            (json.dumps(bounds),),
        )
        return [WeekCount(week_start=from_us(r[0]), count=r[1]) for r in rows]
