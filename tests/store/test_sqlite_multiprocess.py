"""SQLiteStore across real processes (spawn): claims and budget reservations stay atomic."""

from __future__ import annotations

import multiprocessing
import os
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from applyflow.errors import BudgetExceeded
from applyflow.models import UsageRecord
from applyflow.store.sqlite import SQLiteStore
from tests.store.factories import NOW, add_jobs

CTX = multiprocessing.get_context("spawn")
CAP = 1.0
WAIT_S = 120  # generous bound for a slow CI box; never reached when things work


def _claimer(url: str, worker: str, barrier: Any, results: Any) -> None:
    store = SQLiteStore(url)
    try:
        barrier.wait(WAIT_S)
        got: list[str] = []
        while batch := store.claim_jobs(3, worker, 300, NOW):
            got.extend(job.id for job in batch)
        results.put((worker, got))
    finally:
        store.close()


def _spender(url: str, seed: int, barrier: Any, results: Any) -> None:
    """Reserve random amounts against the cap; settle each for a random part of it."""
    rng = random.Random(seed)
    store = SQLiteStore(url)
    try:
        barrier.wait(WAIT_S)
        settled, refused, peak = 0.0, 0, 0.0
        for i in range(40):
            rid = f"p{seed}-{i}"
            amount = round(rng.uniform(0.01, 0.2), 6)
            try:
                store.reserve(rid, {"total": CAP}, amount, NOW, 300)
            except BudgetExceeded:
                refused += 1
                continue
            state = store.scope_states(["total"], NOW)["total"]
            peak = max(peak, state.spent + state.reserved)
            actual = round(amount * rng.uniform(0.5, 1.0), 6)
            usage = UsageRecord(
                call_id=rid, provider="openai", model="gpt-4o-mini", input_tokens=10,
                output_tokens=5, cost_usd=actual, at=NOW,
            )  # fmt: skip
            store.settle(rid, ["total"], actual, NOW, usage)
            settled += actual
        results.put({"settled": settled, "refused": refused, "peak": peak})
    finally:
        store.close()


def _crashing_holder(url: str) -> None:
    """Reserve, then die without settling or releasing (no cleanup runs)."""
    store = SQLiteStore(url)
    store.reserve("crashed", {"total": CAP}, 0.9, NOW, 30)
    os._exit(1)


def _run_all(target: Any, argsets: list[tuple[Any, ...]]) -> list[Any]:
    """Start one process per argument set (all released together by a barrier); their results."""
    barrier, results = CTX.Barrier(len(argsets)), CTX.Queue()
    procs = [CTX.Process(target=target, args=(*a, barrier, results)) for a in argsets]
    for p in procs:
        p.start()
    try:
        out = [results.get(timeout=WAIT_S) for _ in procs]
    finally:
        for p in procs:
            p.join(WAIT_S)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    return out


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shared.db'}"


def test_four_processes_claim_every_job_exactly_once(url: str) -> None:
    store = SQLiteStore(url)
    ids = add_jobs(store, 100)
    got = dict(_run_all(_claimer, [(url, f"w{i}") for i in range(4)]))
    claimed = [job_id for jobs in got.values() for job_id in jobs]
    assert len(claimed) == 100
    assert set(claimed) == set(ids)
    for job in store.list_jobs(limit=200):
        assert job.id in got[job.claimed_by]
    store.close()


def test_eight_processes_never_spend_over_the_cap(url: str) -> None:
    outcomes = _run_all(_spender, [(url, seed) for seed in range(8)])
    store = SQLiteStore(url)
    total = store.scope_states(["total"], NOW)["total"]
    settled = sum(o["settled"] for o in outcomes)
    assert total.spent <= CAP
    assert total.spent == pytest.approx(settled, abs=1e-9)
    assert store.usage_total().cost_usd == pytest.approx(settled, abs=1e-9)
    assert max(o["peak"] for o in outcomes) <= CAP
    assert sum(o["refused"] for o in outcomes) > 0  # the cap was actually contended
    assert total.reserved == 0
    assert store.open_reservations(NOW) == 0
    store.close()


def test_a_crashed_holders_reservation_expires_after_its_lease(url: str) -> None:
    proc = CTX.Process(target=_crashing_holder, args=(url,))
    proc.start()
    proc.join(WAIT_S)
    assert proc.exitcode == 1
    store = SQLiteStore(url)
    assert store.open_reservations(NOW) == 1
    with pytest.raises(BudgetExceeded, match="total budget exceeded"):
        store.reserve("during-lease", {"total": CAP}, 0.5, NOW + timedelta(seconds=29), 30)
    after = NOW + timedelta(seconds=31)
    store.reserve("after-lease", {"total": CAP}, 0.5, after, 30)
    state = store.scope_states(["total"], after)["total"]
    assert (state.spent, state.reserved) == (0, 0.5)
    assert store.open_reservations(after) == 1
    store.close()
