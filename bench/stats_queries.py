"""stats_queries: dashboard queries and a metrics scrape on SQLite at 100,000 jobs, 1,000,000
usage rows and 500,000 progress rows.

The dataset is written with bulk ``executemany`` straight into the store's own schema (created
by ``SQLiteStore``, whose triggers keep the metrics rollups as the rows go in): a million usage
rows through ``record_usage`` would take far longer than the queries being measured. Each query
is then timed through the public API the dashboard and the exporter call, on a fresh store
object; the scans the rollups replace are timed beside them.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from applyflow.metrics import StoreCollector
from applyflow.models import ProgressStatus, Status
from applyflow.periods import budget_scopes
from applyflow.spend import budget_summary
from applyflow.stats import funnel
from applyflow.store.runs import LAYER_DURATION_BUCKETS
from applyflow.store.sqlite import SQLiteStore
from bench.report import bench_settings, median, percentile, quick_mode, report

__all__ = ["build_dataset", "main", "measure_queries"]

NAME = "stats_queries"
TARGET_MS = 100.0
_DAY_US = 86_400 * 1_000_000
_LAYERS = ("extract", "research", "score", "generate")
_ALL_LAYERS = (*_LAYERS, "publish")
_APPLIED = (Status.APPLIED, Status.INTERVIEW, Status.OFFER, Status.REJECTED)
_OTHER = (Status.NEW, Status.READY, Status.DISCARDED, Status.FAILED, Status.OVER_BUDGET)
_BATCH = 50_000
_PROGRESS = (ProgressStatus.COMPLETED, ProgressStatus.CACHED, ProgressStatus.FAILED,
             ProgressStatus.SKIPPED)  # fmt: skip
_PROGRESS_WEIGHTS = (0.85, 0.05, 0.05, 0.05)


def _us(value: datetime) -> int:
    return int(value.timestamp() * 1_000_000)


def build_dataset(
    folder: Path, jobs: int, usage_rows: int, now: datetime, seed: int = 11
) -> dict[str, Any]:
    """Write ``jobs`` jobs (30% applied, over a year) and ``usage_rows`` calls (over a year)."""
    path = folder / "applyflow.db"
    SQLiteStore(f"sqlite:///{path}").close()  # creates the schema
    conn = sqlite3.connect(path, isolation_level=None)  # transactions are explicit below
    rng = random.Random(seed)
    now_us, year_us = _us(now), 365 * _DAY_US
    applied = 0
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    rows = []
    for i in range(jobs):
        ingested = now_us - rng.randrange(year_us)
        if rng.random() < 0.30:
            status, at = rng.choice(_APPLIED), ingested + rng.randrange(max(1, now_us - ingested))
            applied += 1
        else:
            status, at = rng.choice(_OTHER), None
        rows.append(
            (f"job{i:07d}", "bench", f"Engineer {i}", f"Company {i % 2000}",
             "A posting body of realistic length. " * 20, f"h{i}", ingested, ingested,
             status.value, at, rng.randint(20, 95))
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO jobs (id, source, title, company, description, content_hash, ingested_at,"
        " updated_at, status, applied_at, fit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    jobs_s = time.perf_counter() - start

    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO progress (run_id, job_id, layer, status, duration_s, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            (f"run{i // 500:05d}", f"job{i:07d}", layer, status.value,
             None if status == ProgressStatus.SKIPPED else rng.expovariate(1 / 8), now_us)
            for i in range(jobs)
            for layer in _ALL_LAYERS
            for status in [rng.choices(_PROGRESS, _PROGRESS_WEIGHTS)[0]]
        ),
    )  # fmt: skip
    conn.execute("COMMIT")
    progress_s = time.perf_counter() - start

    start = time.perf_counter()
    scope_spend: dict[str, int] = {}
    tz = bench_settings(folder).tz
    for first in range(0, usage_rows, _BATCH):
        batch = []
        for i in range(first, min(usage_rows, first + _BATCH)):
            at = now_us - rng.randrange(year_us)
            cost = rng.randint(50_000, 5_000_000)  # nano-dollars: $0.00005 .. $0.005
            batch.append(
                (f"call{i:08d}", f"run{i // 500:05d}", f"job{rng.randrange(jobs):07d}",
                 _LAYERS[i % 4], "openai", "openai:gpt-4o-mini", rng.randint(500, 4000),
                 rng.randint(100, 1500), cost, at)
            )  # fmt: skip
            when = datetime.fromtimestamp(at / 1e6, UTC)
            for key in budget_scopes(when, tz).values():
                scope_spend[key] = scope_spend.get(key, 0) + cost
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO usage (call_id, run_id, job_id, layer, provider, model, input_tokens,"
            " output_tokens, cost, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            batch,
        )
        conn.execute("COMMIT")
    # The budget counters the ledger would have kept for these calls.
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO budget (scope, spent) VALUES (?, ?)", scope_spend.items())
    conn.execute("COMMIT")
    usage_s = time.perf_counter() - start
    conn.close()
    return {"jobs": jobs, "applied": applied, "usage_rows": usage_rows,
            "progress_rows": jobs * len(_ALL_LAYERS), "build_jobs_s": round(jobs_s, 2),
            "build_progress_s": round(progress_s, 2),
            "build_usage_s": round(usage_s, 2)}  # fmt: skip


# What the rollups save a scrape: the same numbers computed by scanning the rows.
SCANS = {
    "usage totals by scanning the ledger": (
        "SELECT provider, model, layer, count(*), sum(input_tokens), sum(output_tokens),"
        " sum(cost) FROM usage GROUP BY provider, model, layer"
    ),
    "layer histogram by scanning progress": (
        "SELECT layer, "
        + ", ".join(f"sum(duration_s <= {b})" for b in LAYER_DURATION_BUCKETS)
        + ", count(*), sum(duration_s) FROM progress WHERE status = 'completed'"
        " AND duration_s IS NOT NULL GROUP BY layer"
    ),
}


def _timed(query: Callable[[], Any], repeat: int) -> list[float]:
    query()  # warm-up: page cache and statement cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        query()
        times.append((time.perf_counter() - start) * 1000)
    return times


def measure_scans(folder: Path, repeat: int) -> dict[str, float]:
    """Median ms of each scan in ``SCANS`` (for comparison with the scrape, not a target)."""
    conn = sqlite3.connect(folder / "applyflow.db")
    try:
        return {
            label: round(median(_timed(lambda sql=sql: conn.execute(sql).fetchall(), repeat)), 3)
            for label, sql in SCANS.items()
        }
    finally:
        conn.close()


def measure_queries(folder: Path, now: datetime, repeat: int) -> list[dict[str, Any]]:
    """Median and p95 latency of each dashboard query and of a whole metrics scrape over
    ``repeat`` runs (after one warm-up)."""
    settings = bench_settings(folder, budget_monthly_usd=500.0, budget_daily_usd=50.0)
    store = SQLiteStore(settings.store_url)
    tz = settings.tz
    registry = CollectorRegistry()
    registry.register(StoreCollector(settings, store, providers=["openai"], clock=lambda: now))
    queries: dict[str, Callable[[], Any]] = {
        "application stats": lambda: store.application_stats(now, tz),
        "funnel": lambda: funnel(store.status_counts()),
        "weekly series (12 weeks)": lambda: store.weekly_applications(now, tz, 12),
        "budget summary": lambda: budget_summary(settings, store, now),
        "daily spend series (30 days)": lambda: store.spend_series(
            "day", now - timedelta(days=29), now, tz
        ),
        "metrics scrape (every series)": lambda: generate_latest(registry),
    }
    rows = []
    try:
        for label, query in queries.items():
            times = _timed(query, repeat)
            med = median(times)
            rows.append(
                {"measure": label, "median_ms": round(med, 3),
                 "p95_ms": round(percentile(times, 95), 3), "target_ms": TARGET_MS,
                 "met": med < TARGET_MS}
            )  # fmt: skip
    finally:
        store.close()
    return rows


def main() -> dict[str, Any]:
    quick = quick_mode()
    jobs, usage_rows, repeat = (10_000, 100_000, 5) if quick else (100_000, 1_000_000, 21)
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="bench-stats-") as tmp:
        folder = Path(tmp)
        built = build_dataset(folder, jobs, usage_rows, now)
        rows = measure_queries(folder, now, repeat)
        scans = measure_scans(folder, max(3, repeat // 4))
        size_mb = (folder / "applyflow.db").stat().st_size / 1e6
    return report(
        NAME,
        f"Dashboard queries and a metrics scrape on SQLite: {jobs:,} jobs, {usage_rows:,} usage"
        f" rows, {jobs * len(_ALL_LAYERS):,} progress rows",
        rows,
        params={"jobs": jobs, "usage_rows": usage_rows, "repeat": repeat, "store": "sqlite"},
        summary={
            **built,
            "db_mb": round(size_mb, 1),
            "all_met": all(r["met"] for r in rows),
            "scans_without_rollups_ms": scans,
        },  # fmt: skip
    )


if __name__ == "__main__":
    main()
