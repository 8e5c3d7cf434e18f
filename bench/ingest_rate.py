"""ingest_rate: 10,000 postings from JSONL, first ingest and an unchanged re-ingest.

The whole ``ingest`` flow is timed on Prefect's temporary API (started and warmed up before
timing), then its two parts are timed directly: reading and normalising the file
(``read_source``), and the store's ``upsert_jobs``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from applyflow.models import utcnow
from applyflow.settings import get_settings
from applyflow.store.sqlite import SQLiteStore
from bench.postings import posting_records, write_jsonl
from bench.report import bench_settings, median, quick_mode, report

__all__ = ["main", "time_flow", "time_parts"]

NAME = "ingest_rate"


def _use_store(folder: Path) -> str:
    """Point the process settings (read by the flow) at a fresh store under ``folder``."""
    url = f"sqlite:///{folder / 'applyflow.db'}"
    os.environ["APPLYFLOW_STORE_URL"] = url
    get_settings.cache_clear()
    return url


def time_flow(source: Path, folder: Path) -> dict[str, Any]:
    """Seconds and reports of the ingest flow: first ingest, then the same file again."""
    from flows.ingest import ingest

    _use_store(folder)
    start = time.perf_counter()
    first = ingest(sources=[str(source)])
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    again = ingest(sources=[str(source)])
    again_s = time.perf_counter() - start
    return {"first_s": first_s, "first": first, "again_s": again_s, "again": again}


def time_parts(source: Path, folder: Path) -> dict[str, Any]:
    """Seconds to read and normalise the file, and to upsert it into a fresh store twice."""
    from tasks.ingest import read_source

    settings = bench_settings(folder)
    start = time.perf_counter()
    batch = read_source(str(source), settings=settings)
    read_s = time.perf_counter() - start
    store = SQLiteStore(settings.store_url)
    try:
        start = time.perf_counter()
        first = store.upsert_jobs(batch.postings, utcnow())
        upsert_s = time.perf_counter() - start
        start = time.perf_counter()
        again = store.upsert_jobs(batch.postings, utcnow())
        reupsert_s = time.perf_counter() - start
    finally:
        store.close()
    return {"postings": len(batch.postings), "rejected": len(batch.rejections),
            "read_s": read_s, "upsert_s": upsert_s, "reupsert_s": reupsert_s,
            "inserted": first.inserted, "unchanged_again": again.unchanged}  # fmt: skip


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")


def main() -> dict[str, Any]:
    n, rounds = (1_000, 2) if quick_mode() else (10_000, 3)
    flows, parts = [], []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        source = write_jsonl(root / "postings.jsonl", posting_records(n))
        warm = write_jsonl(root / "warm.jsonl", posting_records(5, seed=99))
        time_flow(warm, root / "warm")  # starts Prefect's temporary API before any timing
        for i in range(rounds):
            flows.append(time_flow(source, root / f"flow{i}"))
            parts.append(time_parts(source, root / f"parts{i}"))
    first_s = median([f["first_s"] for f in flows])
    again_s = median([f["again_s"] for f in flows])
    read_s = median([p["read_s"] for p in parts])
    upsert_s = median([p["upsert_s"] for p in parts])
    reupsert_s = median([p["reupsert_s"] for p in parts])
    rows = [
        {"measure": "first ingest (flow)", "seconds": round(first_s, 3),
         "postings_per_s": _rate(n, first_s)},
        {"measure": "re-ingest, unchanged (flow)", "seconds": round(again_s, 3),
         "postings_per_s": _rate(n, again_s)},
        {"measure": "  read + normalise JSONL", "seconds": round(read_s, 3),
         "postings_per_s": _rate(n, read_s)},
        {"measure": "  upsert, new", "seconds": round(upsert_s, 3),
         "postings_per_s": _rate(n, upsert_s)},
        {"measure": "  upsert, unchanged", "seconds": round(reupsert_s, 3),
         "postings_per_s": _rate(n, reupsert_s)},
    ]  # fmt: skip
    last = flows[-1]
    return report(
        NAME,
        f"Ingest rate: {n:,} postings from JSONL (median of {rounds} rounds)",
        rows,
        params={"postings": n, "rounds": rounds, "store": "sqlite", "html_share": 0.3},
        summary={
            "first_inserted": last["first"].inserted,
            "again_unchanged": last["again"].unchanged,
            "again_inserted": last["again"].inserted,
            "rejected": last["first"].rejected,
            "reingest_speedup": round(first_s / again_s, 2),
        },
    )


if __name__ == "__main__":
    main()
