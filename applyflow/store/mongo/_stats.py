"""Stats in the MongoDB store: ``count_documents`` and aggregation pipelines over the job
indexes, with bounds from ``applyflow.periods``."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from applyflow import periods
from applyflow.models import ApplicationStats, Status, WeekCount
from applyflow.store.mongo._client import MongoBase
from applyflow.store.mongo._codec import bucket_facets, bucket_rows
from applyflow.store.stats import StatsStore


class MongoStats(MongoBase, StatsStore):
    """``StatsStore`` on MongoDB."""

    def status_counts(self) -> dict[str, int]:
        """One count per status over the claim index's ``status`` prefix: index keys only,
        never a scan of the job documents."""
        return {s.value: self._jobs.count_documents({"status": s.value}) for s in Status}

    def application_stats(self, now: datetime, tz: ZoneInfo) -> ApplicationStats:
        """Four ``count_documents`` over the ``applied_at`` index; windows ``[bound, now]``."""

        def applied_since(start: datetime) -> int:
            return self._jobs.count_documents({"applied_at": {"$gte": start, "$lte": now}})

        windows = periods.application_windows(now, tz)
        return ApplicationStats(
            **{name: applied_since(start) for name, start in windows.items()},
            total=self._jobs.count_documents({"applied_at": {"$type": "date"}}),
        )

    def weekly_applications(self, now: datetime, tz: ZoneInfo, weeks: int = 12) -> list[WeekCount]:
        """Local Monday bounds from Python; the database counts each week (``$facet``)."""
        edges = periods.week_edges(now, tz, weeks)
        if not edges:
            return []
        pipeline = bucket_facets("applied_at", edges, {"count": {"$sum": 1}})
        rows = bucket_rows(list(self._jobs.aggregate(pipeline)), len(edges) - 1)
        return [
            WeekCount(week_start=start, count=row.get("count", 0))
            for start, row in zip(edges[:-1], rows, strict=True)
        ]
