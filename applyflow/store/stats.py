"""The stats part of the store contract: counts the database computes over indexes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from zoneinfo import ZoneInfo

from applyflow.models import ApplicationStats, WeekCount

__all__ = ["StatsStore"]


class StatsStore(ABC):
    """Jobs per status and applications sent, with bounds from ``applyflow.periods``."""

    @abstractmethod
    def status_counts(self) -> dict[str, int]:
        """Jobs per status, every status present (zeros included)."""

    @abstractmethod
    def application_stats(self, now: datetime, tz: ZoneInfo) -> ApplicationStats:
        """Jobs with ``applied_at``: since local midnight in ``tz`` (today), in the last
        7 days, in the last 30 days, and in total. Bounds are computed in Python and the
        database counts over an index. Windows are ``[bound, now]``, both ends included;
        "last 7 days" means ``now - 7 * 24 h`` (``periods.application_windows``)."""

    @abstractmethod
    def weekly_applications(self, now: datetime, tz: ZoneInfo, weeks: int = 12) -> list[WeekCount]:
        """Applications per local week (Monday 00:00 in ``tz``), oldest first, exactly
        ``weeks`` entries, the last one being the current week."""
