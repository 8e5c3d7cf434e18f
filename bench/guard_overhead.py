"""guard_overhead: the offline model called raw versus through the full guarded call.

Raw and guarded calls alternate (which goes first flips each time), so drift on a shared machine
hits both alike; "added" is each guarded call minus its paired raw call. Configurations:

- sqlite, defaults: the offline model as shipped ($0, no rate limit of its own), so the guard
  runs breaker, pricing, a budget reservation on total/month/day/run/job and the settle with its
  usage row.
- sqlite, every guard engaged: a price and caps on every scope, request and token limits in the
  shared SQLite rate storage; this is the configuration the 1 ms target is judged on.
- mongomock, every guard engaged (for information): same, ``memory://`` rate storage.

The Prefect ``llm-*`` slot is not taken: the pipeline skips it for the in-process offline model
(``flows.pipeline.build_guard``), and a slot is API round trips, not guard code.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from applyflow.offline import LAYER_KEY, OfflineChatModel
from applyflow.store import Store
from applyflow.store.sqlite import SQLiteStore
from bench.postings import posting_records
from bench.report import bench_settings, median, percentile, quick_mode, report
from guards.call import CallContext, ModelGuard

__all__ = ["ENGAGED", "main", "measure"]

NAME = "guard_overhead"
TARGET_MS = 1.0
MAX_TOKENS = 1500  # the extract layer's
ENGAGED: dict[str, Any] = {
    "prices": {"offline": {"input": 0.15, "output": 0.60}},
    "budget_total_usd": 1000.0,
    "budget_monthly_usd": 500.0,
    "budget_daily_usd": 100.0,
    "budget_per_run_usd": 50.0,
    "budget_per_job_usd": 10.0,
    "rate_limits": {"offline": "100000/minute"},
    "token_limits": {"offline": "1000000000/minute"},
}


def _messages() -> list[Any]:
    from tasks.extract import EXTRACT

    record = posting_records(1)[0]
    posting = {k: record.get(k) for k in ("title", "company", "location", "url", "description")}
    return EXTRACT.messages({"posting": posting})


def measure(settings: Any, store: Store, calls: int, warmup: int = 20) -> dict[str, Any]:
    """Per-call times (ms) of ``calls`` raw and ``calls`` guarded offline calls, interleaved."""
    guard = ModelGuard(settings, store, prefect_slots=False)
    raw_model = OfflineChatModel(max_tokens=MAX_TOKENS)
    messages = _messages()
    ctx = CallContext(run_id="bench-run", job_id="bench-job", layer="extract")

    layer = {"metadata": {LAYER_KEY: "extract"}}  # what the guarded call tells the model

    def raw() -> None:
        raw_model.invoke(messages, layer)

    def guarded() -> None:
        guard.call(messages, model="offline", max_tokens=MAX_TOKENS, ctx=ctx)

    def timed(fn: Any) -> float:
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1000

    for _ in range(warmup):
        raw()
        guarded()
    raw_ms, guarded_ms = [], []
    for i in range(calls):
        order = (raw, guarded) if i % 2 == 0 else (guarded, raw)
        first, second = timed(order[0]), timed(order[1])
        r, g = (first, second) if i % 2 == 0 else (second, first)
        raw_ms.append(r)
        guarded_ms.append(g)
    added = [g - r for g, r in zip(guarded_ms, raw_ms, strict=True)]
    usage = store.usage_total(run_id="bench-run")
    return {
        "raw_median_ms": median(raw_ms),
        "guarded_median_ms": median(guarded_ms),
        "added_median_ms": median(added),
        "added_p99_ms": percentile(added, 99),
        "ratio": median(guarded_ms) / median(raw_ms),
        "usage_rows": usage.calls,
        "spent_usd": usage.cost_usd,
    }


def _mongomock_store() -> Store:
    import mongomock

    from applyflow.store.mongo import MongoStore

    return MongoStore("mongodb://mongomock.bench/applyflow_bench", client=mongomock.MongoClient())


def main() -> dict[str, Any]:
    calls = 200 if quick_mode() else 1000
    load_before = os.getloadavg()  # other work on the machine colours the absolute numbers
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as tmp:
        configs = [
            ("sqlite, defaults", "sqlite", {}),
            ("sqlite, every guard engaged", "sqlite", ENGAGED),
            ("mongomock, every guard engaged (info)", "mongomock", ENGAGED),
        ]
        for index, (label, kind, overrides) in enumerate(configs):
            folder = Path(tmp) / str(index)
            extra = {"rate_storage_url": "memory://"} if kind == "mongomock" else {}
            settings = bench_settings(folder, **overrides, **extra)
            store = SQLiteStore(settings.store_url) if kind == "sqlite" else _mongomock_store()
            try:
                result = measure(settings, store, calls)
            finally:
                store.close()
            judged = label == "sqlite, every guard engaged"
            rows.append(
                {"config": label, **{k: round(v, 4) if isinstance(v, float) else v
                                     for k, v in result.items()},
                 "target_ms": TARGET_MS if judged else None,
                 "met": result["added_median_ms"] <= TARGET_MS if judged else None}
            )  # fmt: skip
    return report(
        NAME,
        f"Guard overhead: {calls} offline calls, raw vs guarded",
        rows,
        params={
            "calls": calls,
            "max_tokens": MAX_TOKENS,
            "engaged_settings": ENGAGED,
            "prefect_slot": False,
            "load_avg_before": load_before,
            "load_avg_after": os.getloadavg(),
        },  # fmt: skip
    )


if __name__ == "__main__":
    main()
