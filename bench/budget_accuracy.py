"""budget_accuracy: 8 processes spend random call costs against a $1.00 cap until refused.

Ours: the store's atomic ``reserve`` (worst case) -> call -> ``settle`` (actual cost), exactly
what ``BudgetGuard`` does per call. The naive guard on the same workload reads the spent
amount, checks it against the cap, makes the call, then records the cost: each step is atomic
by itself, the check-then-record is not. The call is a short sleep (a model call's latency is
what lets other processes act between the check and the record).
"""

from __future__ import annotations

import multiprocessing as mp
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from applyflow.errors import BudgetExceeded
from applyflow.money import from_nanos, to_nanos
from applyflow.store.sqlite import SQLiteStore
from bench.report import median, quick_mode, report

__all__ = ["GuardKind", "main", "run_round"]

NAME = "budget_accuracy"
GuardKind = Literal["reserve", "naive"]
SHARE_TARGET = 0.97
_SCOPE = "total"
_LEASE_S = 300.0
WORST_USD = (0.001, 0.01)  # a call's worst-case estimate; the actual bill is 50-100% of it
CALL_S = (0.001, 0.005)


def _spend_until_refused(
    kind: GuardKind, url: str, cap: float, seed: int, barrier: Any, results: Any
) -> None:
    """One worker process: call until the guard refuses; report calls and nano-dollars spent."""
    store = SQLiteStore(url)
    rng = random.Random(seed)
    calls, spent = 0, 0
    barrier.wait()
    while True:
        worst = rng.uniform(*WORST_USD)
        actual = from_nanos(to_nanos(worst * rng.uniform(0.5, 1.0)))
        call_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        if kind == "reserve":
            try:
                store.reserve(call_id, {_SCOPE: cap}, worst, now, _LEASE_S)
            except BudgetExceeded:
                break
        elif store.scope_states([_SCOPE], now)[_SCOPE].spent + worst > cap:
            break
        time.sleep(rng.uniform(*CALL_S))  # the model call
        store.settle(call_id, [_SCOPE], actual, datetime.now(UTC))
        calls += 1
        spent += to_nanos(actual)
    store.close()
    results.put((calls, spent))


def run_round(
    kind: GuardKind, folder: Path, *, processes: int = 8, cap: float = 1.0, seed: int = 0
) -> dict[str, Any]:
    """One round on a fresh database: spent, overspend, share of the cap used, calls."""
    url = f"sqlite:///{folder / f'budget-{kind}-{seed}.db'}"
    SQLiteStore(url).close()  # schema first, so workers do not race to create it
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(
            target=_spend_until_refused,
            args=(kind, url, cap, seed * 1000 + i, barrier, results),
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    reported = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        if worker.exitcode != 0:
            raise RuntimeError(f"budget worker exited with {worker.exitcode}")
    store = SQLiteStore(url)
    try:
        recorded = store.scope_states([_SCOPE], datetime.now(UTC))[_SCOPE].spent
    finally:
        store.close()
    spent = from_nanos(sum(nanos for _, nanos in reported))
    return {
        "guard": kind,
        "calls": sum(calls for calls, _ in reported),
        "spent_usd": spent,
        "recorded_usd": recorded,
        "overspend_usd": max(0.0, from_nanos(to_nanos(spent) - to_nanos(cap))),
        "share_of_cap": spent / cap,
    }


def main() -> dict[str, Any]:
    rounds = 2 if quick_mode() else 5
    processes, cap = 8, 1.0
    rows = []
    per_kind: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-budget-") as tmp:
        for seed in range(rounds):
            for kind in ("reserve", "naive"):
                result = run_round(kind, Path(tmp), processes=processes, cap=cap, seed=seed)
                per_kind.setdefault(kind, []).append(result)
    labels = {"reserve": "ours: atomic reserve -> settle", "naive": "naive check-then-record"}
    for kind, results in per_kind.items():
        shares = [r["share_of_cap"] for r in results]
        rows.append(
            {"config": labels[kind], "rounds": len(results),
             "calls_median": median([r["calls"] for r in results]),
             "overspend_max_usd": round(max(r["overspend_usd"] for r in results), 6),
             "overspend_median_usd": round(median([r["overspend_usd"] for r in results]), 6),
             "share_median": round(median(shares), 4), "share_min": round(min(shares), 4),
             "ledger_matches": all(abs(r["spent_usd"] - r["recorded_usd"]) < 1e-9
                                   for r in results)}
        )  # fmt: skip
    ours = per_kind["reserve"]
    return report(
        NAME,
        f"Budget accuracy: {processes} processes against a ${cap:.2f} cap until refused",
        rows,
        params={
            "processes": processes,
            "cap_usd": cap,
            "rounds": rounds,
            "worst_case_usd": WORST_USD,
            "actual_share_of_worst": (0.5, 1.0),
            "call_latency_s": CALL_S,
            "store": "sqlite",
        },  # fmt: skip
        summary={
            "ours_zero_overspend": all(r["overspend_usd"] == 0 for r in ours),
            "ours_share_target": SHARE_TARGET,
            "ours_share_met": min(r["share_of_cap"] for r in ours) >= SHARE_TARGET,
        },
        details={"rounds": per_kind},
    )


if __name__ == "__main__":
    main()
