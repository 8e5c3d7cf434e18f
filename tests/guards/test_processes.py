"""Across processes: one SQLite rate window and one budget shared by 8 spawned workers."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from applyflow.errors import BudgetExceeded
from applyflow.models import utcnow
from applyflow.store.sqlite import SQLiteStore
from guards.budget import BudgetGuard
from tests.guards import _workers

WORKERS = 8
SPAWN = multiprocessing.get_context("spawn")


def _run(target: Callable[..., None], *args: Any) -> list:
    """Start WORKERS processes of ``target`` behind one barrier; collect one result from each."""
    barrier, results = SPAWN.Barrier(WORKERS), SPAWN.Queue()
    procs = [SPAWN.Process(target=target, args=(*args, barrier, results)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    try:
        out = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0] * WORKERS
    return out


def test_eight_processes_never_exceed_30_per_minute(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ratelimits.db'}"
    results = _run(_workers.rate_worker, url, 10)
    stamps = sorted(t for _, admitted in results for t in admitted)
    assert len({pid for pid, _ in results}) == WORKERS
    assert len(stamps) >= 30  # the full allowance is used, not throttled below it
    for i, start in enumerate(stamps):  # every window that starts at an admission
        in_window = sum(1 for t in stamps[i:] if t < start + 60)
        assert in_window <= 30, f"{in_window} admissions in the minute from {start}"


def test_eight_processes_spend_within_one_dollar(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'applyflow.db'}"
    SQLiteStore(url).close()  # create the schema once, before the race
    calls = _run(_workers.spend_worker, url)
    store = SQLiteStore(url)
    try:
        now = utcnow()
        spent = store.scope_states(["total"], now)["total"].spent
        usage = store.usage_total()
        assert spent <= 1.0
        assert spent > 1.0 - WORKERS * 0.05  # each refusal saw at most 7 other reservations
        assert usage.calls == sum(calls) and usage.cost_usd == pytest.approx(spent)
        assert usage.cost_usd == pytest.approx(0.03 * usage.calls)
        assert store.open_reservations(now) == 0
    finally:
        store.close()


def test_crashed_holders_reservation_expires(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'applyflow.db'}"
    proc = SPAWN.Process(target=_workers.crashed_holder, args=(url,))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == 17
    settings = _workers.spend_settings(url)
    store = SQLiteStore(url)
    try:
        now = utcnow()
        assert store.open_reservations(now) == 1
        budget = BudgetGuard(settings, store, lambda *a, **k: True)
        with pytest.raises(BudgetExceeded, match=r"\$0\.9000 reserved"):
            budget.reserve(_workers.SPEND_MODEL, 0, 200, now=now)
        after_lease = now + timedelta(seconds=settings.budget_lease_s + 1)
        budget.reserve(_workers.SPEND_MODEL, 0, 200, now=after_lease)  # the lease ran out
        assert store.open_reservations(after_lease) == 1  # only the new one
    finally:
        store.close()
