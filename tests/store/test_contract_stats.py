"""The store contract, ``StatsStore``: status counts, application stats and the weekly series
at exact boundaries.

"now" is fixed (Wednesday 2026-03-18 16:30 UTC). Local midnight that day is 00:00 UTC in UTC,
07:00 UTC in Los Angeles (PDT) and 15:00 UTC in Tokyo (where it is already Thursday).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from applyflow.models import Status
from applyflow.store import Store
from tests.factories import NOW, add_job, add_jobs, applied_job


def _utc(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


class TestStatusCounts:
    def test_status_counts_include_zeros(self, store: Store) -> None:
        a, b, _ = add_jobs(store, 3)
        store.set_status(a, Status.APPLIED, NOW)
        store.set_status(b, Status.DISCARDED, NOW)
        counts = store.status_counts()
        assert counts == {s.value: 0 for s in Status} | {"new": 1, "applied": 1, "discarded": 1}


# Applied at -> (today in UTC, today in Los Angeles, today in Tokyo, last 7 days, last 30 days).
APPLIED = {
    NOW: (1, 1, 1, 1, 1),
    _utc(3, 18, 16): (1, 1, 1, 1, 1),
    _utc(3, 18, 15): (1, 1, 1, 1, 1),  # Tokyo midnight exactly
    _utc(3, 18, 14, 59, 59): (1, 1, 0, 1, 1),
    _utc(3, 18, 7): (1, 1, 0, 1, 1),  # Los Angeles midnight exactly
    _utc(3, 18, 6, 59, 59): (1, 0, 0, 1, 1),
    _utc(3, 17, 23, 59, 59): (0, 0, 0, 1, 1),  # one second before UTC midnight
    NOW - timedelta(days=7): (0, 0, 0, 1, 1),
    NOW - timedelta(days=7, seconds=1): (0, 0, 0, 0, 1),
    NOW - timedelta(days=30): (0, 0, 0, 0, 1),
    NOW - timedelta(days=30, seconds=1): (0, 0, 0, 0, 0),
    datetime(2025, 1, 1, tzinfo=UTC): (0, 0, 0, 0, 0),
}
ZONES = {"UTC": 0, "America/Los_Angeles": 1, "Asia/Tokyo": 2}


class TestApplicationStats:
    @pytest.fixture
    def applied(self, store: Store) -> Store:
        for at in APPLIED:
            applied_job(store, at)
        # Moved on to interview: still an application, stamp kept (counts in the month).
        interview = applied_job(store, _utc(3, 1, 12))
        store.set_status(interview, Status.INTERVIEW, _utc(3, 5))
        # Discarded after applying: the stamp is cleared, so it never counts.
        discarded = applied_job(store, _utc(3, 18, 16))
        store.set_status(discarded, Status.DISCARDED, _utc(3, 18, 16, 10))
        add_job(store)  # never applied
        return store

    @pytest.mark.parametrize("zone", ZONES)
    def test_counts_at_midnight_7_and_30_day_boundaries(self, applied: Store, zone: str) -> None:
        expected_today = sum(flags[ZONES[zone]] for flags in APPLIED.values())
        week = sum(flags[3] for flags in APPLIED.values())
        month = sum(flags[4] for flags in APPLIED.values()) + 1  # + the interview
        stats = applied.application_stats(NOW, ZoneInfo(zone))
        assert stats.model_dump() == {
            "today": expected_today, "week": week, "month": month, "total": len(APPLIED) + 1,
        }  # fmt: skip
        # The table above spelled out, so a wrong flag cannot hide:
        assert {"UTC": 6, "America/Los_Angeles": 5, "Asia/Tokyo": 3}[zone] == expected_today
        assert (week, month, len(APPLIED) + 1) == (8, 11, 13)

    def test_nothing_applied_is_all_zeros(self, store: Store) -> None:
        add_job(store)
        assert store.application_stats(NOW, ZoneInfo("UTC")).model_dump() == dict.fromkeys(
            ("today", "week", "month", "total"), 0
        )


def _mondays(tz: ZoneInfo) -> list[datetime]:
    """The 12 local Mondays 00:00 ending with the week of 2026-03-16, as UTC."""
    first = date(2025, 12, 29)
    days = [first + timedelta(weeks=k) for k in range(12)]
    return [datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC) for d in days]


# Applied at -> local Monday of its week (None: outside the 12 weeks) in UTC and Los Angeles.
WEEKLY = {
    NOW: (date(2026, 3, 16), date(2026, 3, 16)),
    _utc(3, 16): (date(2026, 3, 16), date(2026, 3, 9)),  # Sunday 17:00 in Los Angeles
    _utc(3, 15, 23, 59, 59): (date(2026, 3, 9), date(2026, 3, 9)),
    _utc(3, 16, 7): (date(2026, 3, 16), date(2026, 3, 16)),  # Monday 00:00 PDT
    _utc(3, 9, 7, 30): (date(2026, 3, 9), date(2026, 3, 9)),  # Monday 00:30 PDT, after DST
    _utc(3, 2, 7, 30): (date(2026, 3, 2), date(2026, 2, 23)),  # Sunday 23:30 PST
    datetime(2025, 12, 29, tzinfo=UTC): (date(2025, 12, 29), None),
    datetime(2025, 12, 28, 23, 59, 59, tzinfo=UTC): (None, None),
}


class TestWeeklyApplications:
    @pytest.mark.parametrize(("zone", "column"), [("UTC", 0), ("America/Los_Angeles", 1)])
    def test_twelve_local_weeks_oldest_first_zeros_included(
        self, store: Store, zone: str, column: int
    ) -> None:
        for at in WEEKLY:
            applied_job(store, at)
        tz = ZoneInfo(zone)
        starts = _mondays(tz)
        per_week = {start: 0 for start in starts}
        for weeks in WEEKLY.values():
            if weeks[column] is not None:
                d = weeks[column]
                per_week[datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)] += 1
        series = store.weekly_applications(NOW, tz)
        assert [(w.week_start, w.count) for w in series] == list(per_week.items())
        assert sum(per_week.values()) == {"UTC": 7, "America/Los_Angeles": 6}[zone]

    def test_week_count_is_honoured(self, store: Store) -> None:
        applied_job(store, NOW)
        series = store.weekly_applications(NOW, ZoneInfo("UTC"), weeks=3)
        assert [(w.week_start, w.count) for w in series] == [
            (_utc(3, 2), 0), (_utc(3, 9), 0), (_utc(3, 16), 1),
        ]  # fmt: skip
