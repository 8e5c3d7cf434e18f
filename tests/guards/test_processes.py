"""Across processes: one rate window (SQLite or a real Redis) and one budget shared by 8 spawned
workers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from applyflow.errors import BudgetExceeded
from applyflow.models import utcnow
from applyflow.money import to_nanos
from applyflow.store.sqlite import SQLiteStore
from guards.budget import BudgetGuard
from guards.rate import RateGuard
from tests import multiproc
from tests.guards import _workers
from tests.guards._workers import SPEND_CAP_USD, SPEND_MODEL

WORKERS = 8


def _emptied(redis_url: str) -> str:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    return redis_url


@pytest.fixture(params=["sqlite", "redis"])
def rate_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The shared rate storage: a SQLite file, or the session's redis-server emptied first."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ratelimits.db'}"
    return _emptied(request.getfixturevalue("redis_url"))


def test_eight_processes_never_exceed_30_per_minute(rate_url: str) -> None:
    results = multiproc.run_together(_workers.rate_worker, [(rate_url, 10)] * WORKERS)
    stamps = sorted(t for _, admitted in results for t in admitted)
    assert len({pid for pid, _ in results}) == WORKERS
    assert len(stamps) >= 30  # the full allowance is used, not throttled below it
    for i, start in enumerate(stamps):  # every window that starts at an admission
        in_window = sum(1 for t in stamps[i:] if t < start + 60)
        assert in_window <= 30, f"{in_window} admissions in the minute from {start}"


def test_eight_processes_never_spend_or_hold_over_the_cap(tmp_path: Path, redis_url: str) -> None:
    """The budget race, with every call's rate window in the session's real Redis."""
    rate_url = _emptied(redis_url)
    url = f"sqlite:///{tmp_path / 'applyflow.db'}"
    SQLiteStore(url).close()  # create the schema once, before the race
    outcomes = multiproc.run_together(_workers.spend_worker, [(url, rate_url)] * WORKERS)
    store = SQLiteStore(url)
    try:
        now = utcnow()
        total = store.scope_states(["total"], now)["total"]
        usage = store.usage_total()
        assert total.spent <= SPEND_CAP_USD
        # Reservations included, the store never held more than the cap at any call (and the
        # samples were taken: each saw at least its own call's $0.05).
        peak = max(o["peak_nanos"] for o in outcomes)
        assert to_nanos(0.05) <= peak <= to_nanos(SPEND_CAP_USD)
        assert total.spent > SPEND_CAP_USD - WORKERS * 0.05  # a refusal saw <= 7 other holds
        assert usage.calls == sum(o["calls"] for o in outcomes)
        assert usage.cost_usd == pytest.approx(total.spent)
        assert usage.cost_usd == pytest.approx(0.03 * usage.calls)
        assert total.reserved == 0 and store.open_reservations(now) == 0
    finally:
        store.close()
    # Every call took its request from the shared Redis window (fakeai: 60/minute by default),
    # and only those: a call the budget refused never took a window (it is taken last).
    window = RateGuard(_workers.spend_settings(url, rate_url)).windows("fakeai")[0]
    assert window.remaining == 60 - usage.calls


def test_a_crashed_holders_reservation_expires_after_its_lease(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'applyflow.db'}"
    assert multiproc.run_alone(_workers.crashed_holder, url) == 17
    settings = _workers.spend_settings(url)
    store = SQLiteStore(url)
    try:
        now = utcnow()
        assert store.open_reservations(now) == 1
        budget = BudgetGuard(settings, store, lambda *a, **k: True)
        with pytest.raises(BudgetExceeded, match=r"\$0\.9000 reserved"):
            budget.reserve(SPEND_MODEL, 0, 200, now=now)
        after_lease = now + timedelta(seconds=settings.budget_lease_s + 1)
        budget.reserve(SPEND_MODEL, 0, 200, now=after_lease)  # the lease ran out
        state = store.scope_states(["total"], after_lease)["total"]
        assert (state.spent, state.reserved) == pytest.approx((0, 0.2))  # only the new $0.20
        assert store.open_reservations(after_lease) == 1
    finally:
        store.close()
