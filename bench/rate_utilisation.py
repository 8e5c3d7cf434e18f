"""rate_utilisation: 4 processes call as fast as one provider's limit allows, for 60 s.

Ours: ``RateGuard.acquire`` on the shared SQLite ``limits`` storage (moving window). Prefect:
``prefect.concurrency.sync.rate_limit`` on a global concurrency limit with the equivalent slot
decay (10/second -> limit 10, decay 10/s; 600/minute -> limit 600, decay 10/s), on Prefect's
temporary API shared by the four processes.

Achieved rate = admissions inside the timed span / span. "Max in any window" counts the most
admissions inside any span of the limit's window length. For ours it is read from the storage's
own timestamps (the ``windows`` rows, polled by the parent while they live), so no caller-side
clock jitter can fake or hide a breach; callers' timestamps are reported beside it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal

from bench.report import median, quick_mode, report

__all__ = ["main", "max_in_window", "run_config"]

NAME = "rate_utilisation"
TARGET_RATIO = 0.95
Kind = Literal["ours", "prefect"]
# limits string -> seconds timed; quick runs shorten the span and the long window
FULL = {"10/second": 60.0, "600/minute": 60.0}
QUICK = {"10/second": 10.0, "60/10 seconds": 20.0}
_PROVIDER = "bench"
_PREFECT_LIMIT = "bench-rate"


def max_in_window(times: list[float], window_s: float) -> int:
    """The most timestamps inside any half-open span ``[t, t + window_s)``."""
    ordered, best, left = sorted(times), 0, 0
    for right, at in enumerate(ordered):
        while at - ordered[left] >= window_s:
            left += 1
        best = max(best, right - left + 1)
    return best


def _call_until(
    kind: Kind, spec: str, folder: str, api_url: str, ready: Any, go: Any, t0: Any, span: float,
    results: Any,
) -> None:  # fmt: skip
    """One worker: take admissions until the span ends; report their wall-clock times."""
    if kind == "prefect":
        os.environ["PREFECT_API_URL"] = api_url
        from prefect.client.orchestration import get_client
        from prefect.concurrency.sync import rate_limit

        with get_client(sync_client=True) as client:
            client.hello()

        def admit() -> None:
            rate_limit(_PREFECT_LIMIT, occupy=1, strict=True)
    else:
        from bench.report import bench_settings
        from guards.rate import RateGuard

        settings = bench_settings(
            Path(folder), rate_limits={_PROVIDER: spec}, rate_max_wait_s=3600.0
        )
        guard = RateGuard(settings)

        def admit() -> None:
            guard.acquire(_PROVIDER)

    ready.wait()
    go.wait()
    end = t0.value + span
    times = []
    while True:
        admit()
        now = time.time()
        if now >= end:
            break
        times.append(now)
    results.put(times)


def _poll_windows(path: Path, stop: threading.Event, every_s: float, seen: dict) -> None:
    """Collect every admission row of the SQLite rate storage while it lives (WAL: no locks)."""
    while not stop.is_set():
        try:
            conn = sqlite3.connect(path, timeout=30)
            try:
                rows = conn.execute(
                    "SELECT at, count(*) FROM windows WHERE key LIKE ? GROUP BY at",
                    (f"%{_PROVIDER}%requests%",),
                ).fetchall()
            finally:
                conn.close()
            for at, count in rows:
                seen[at] = max(seen.get(at, 0), count)
        except sqlite3.OperationalError:
            pass  # the storage file is not created yet
        stop.wait(every_s)


def run_config(
    kind: Kind, spec: str, folder: Path, *, processes: int = 4, span: float = 60.0,
    api_url: str = "",
) -> dict[str, Any]:  # fmt: skip
    """Run one implementation under one limit; achieved ratio and max admissions per window."""
    from limits import parse

    item = parse(spec)
    limit, window = item.amount, item.get_expiry()
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "prefect":
        from bench.prefect_server import upsert_rate_limit

        upsert_rate_limit(_PREFECT_LIMIT, limit, limit / window)
    ctx = mp.get_context("spawn")
    ready, go, results = ctx.Barrier(processes + 1), ctx.Event(), ctx.Queue()
    t0 = ctx.Value("d", 0.0)
    args = (kind, spec, str(folder), api_url, ready, go, t0, span, results)
    workers = [ctx.Process(target=_call_until, args=args) for _ in range(processes)]
    for worker in workers:
        worker.start()
    ready.wait(timeout=300)
    seen: dict[float, int] = {}
    stop = threading.Event()
    poller = None
    if kind == "ours":
        storage = folder / "ratelimits.db"
        poller = threading.Thread(
            target=_poll_windows, args=(storage, stop, window / 5, seen), daemon=True
        )
        poller.start()
    t0.value = time.time()
    go.set()
    times = [t for _ in workers for t in results.get(timeout=span + 600)]
    for worker in workers:
        worker.join(timeout=60)
    stop.set()
    if poller is not None:
        poller.join(timeout=30)
    start, end = t0.value, t0.value + span
    storage_times = [at for at, n in seen.items() for _ in range(n) if start <= at < end]
    achieved = len(times) / span
    return {
        "impl": "ours (limits, SQLite storage)" if kind == "ours" else "Prefect rate_limit",
        "config": spec,
        "seconds": span,
        "admissions": len(times),
        "achieved_per_s": round(achieved, 3),
        "ratio": round(achieved / (limit / window), 4),
        "max_in_window_storage": max_in_window(storage_times, window) if kind == "ours" else None,
        "max_in_window_callers": max_in_window(times, window),
        "limit": limit,
        "rate_per_s": limit / window,
    }


def main() -> dict[str, Any]:
    processes = 4
    spans = QUICK if quick_mode() else FULL
    from bench.prefect_server import shared_api_url

    api_url = shared_api_url()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-rate-") as tmp:
        for spec, span in spans.items():
            for kind in ("ours", "prefect"):
                folder = Path(tmp) / f"{kind}-{spec.replace('/', '-').replace(' ', '')}"
                result = run_config(
                    kind, spec, folder, processes=processes, span=span, api_url=api_url
                )
                within = result["max_in_window_storage"] or result["max_in_window_callers"]
                result["within_limit"] = within <= result["limit"]
                result["ratio_met"] = result["ratio"] >= TARGET_RATIO
                rows.append(result)
    ours = [r["ratio"] for r in rows if r["impl"].startswith("ours")]
    # A token bucket starts full: past its first `limit` slots it admits at the decay rate.
    refill = {
        r["config"]: round((r["admissions"] - r["limit"]) / r["seconds"] / r["rate_per_s"], 4)
        for r in rows
        if not r["impl"].startswith("ours")
    }
    return report(
        NAME,
        f"Rate-limit utilisation: {processes} processes calling as fast as allowed",
        rows,
        params={
            "processes": processes,
            "spans_s": spans,
            "prefect_equivalent": "limit = window limit, slot_decay_per_second = limit/window",
            "ours_storage": "sqlite (guards.rate_sqlite)",
        },  # fmt: skip
        summary={
            "ours_ratio_median": median(ours),
            "prefect_refill_rate_over_decay": refill,
        },
    )


if __name__ == "__main__":
    main()
