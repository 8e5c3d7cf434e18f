"""prefect_slot: taking and giving back an ``llm-<provider>`` slot versus one plain API call.

Against a real local ``prefect server`` (SQLite, started here), in one run and interleaved (the
order flips each round, so drift on a shared machine hits every side alike):

- slot: ``guards.concurrency.provider_slot`` enter + exit, as the guarded call takes it (one
  increment-with-lease, one decrement-with-lease on the process's long-lived client), until the
  release has reached the server (``flush``): the whole cost of a slot;
- as the caller waits: the same without waiting for the release, which a background thread
  sends (for information; each round starts with nothing pending, so nothing is reused);
- round trip: one POST to the same API through the same client (``/v2/concurrency_limits/
  filter``, one limit read back);
- Prefect's sync ``concurrency()`` enter + exit (the helper the slot used before), every
  fourth round: it costs about 100 ms each.

``summary.slot_over_roundtrip`` is the slot's median over the round trip's; target <= 3.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from bench.prefect_server import local_server
from bench.report import bench_settings, median, percentile, quick_mode, report

__all__ = ["main", "measure"]

NAME = "prefect_slot"
TARGET = 3.0


def _ms(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def measure(rounds: int, warmup: int = 20, prefect_every: int = 4) -> dict[str, Any]:
    """Per-call times (ms) on the current Prefect API: slot, round trip, Prefect's helper."""
    import tempfile
    from pathlib import Path

    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency.sync import concurrency

    from guards.concurrency import limit_name, provider_slot
    from guards.slots import slot_client

    provider = f"bench{uuid.uuid4().hex[:6]}"
    name = limit_name(provider)
    settings = bench_settings(Path(tempfile.mkdtemp(prefix="bench-slot-")))
    client = slot_client().api  # the same long-lived client the slot uses
    client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=4))

    slots = slot_client()

    def slot() -> None:
        with provider_slot(settings, provider) as held:
            assert held, "no slot was taken"
        slots.flush()  # the release is on the server too: the whole cost of a slot

    def caller() -> None:
        with provider_slot(settings, provider) as held:
            assert held, "no slot was taken"

    def roundtrip() -> None:
        client.read_global_concurrency_limits(limit=1)

    def prefect_helper() -> None:
        with concurrency(name, occupy=1, strict=True):
            pass

    for _ in range(warmup):
        slot()
        roundtrip()
    for _ in range(3):
        prefect_helper()
    slot_ms, trip_ms, prefect_ms, caller_ms = [], [], [], []
    for i in range(rounds):
        pair = [(slot, slot_ms), (roundtrip, trip_ms)]
        for fn, into in pair if i % 2 == 0 else reversed(pair):
            into.append(_ms(fn))
        caller_ms.append(_ms(caller))
        slots.flush()
        if i % prefect_every == 0:
            prefect_ms.append(_ms(prefect_helper))
    left = client.read_global_concurrency_limit_by_name(name).active_slots
    return {
        "slot_ms": slot_ms,
        "roundtrip_ms": trip_ms,
        "prefect_concurrency_ms": prefect_ms,
        "caller_ms": caller_ms,
        "active_slots_after": left,
    }


def main() -> dict[str, Any]:
    rounds = 60 if quick_mode() else 400
    load_before = os.getloadavg()
    with local_server() as api_url:
        found = measure(rounds)
    load_after = os.getloadavg()
    rows = []
    for label, key in (
        ("provider_slot enter + exit, release landed (ours)", "slot_ms"),
        ("provider_slot enter + exit as the caller waits", "caller_ms"),
        ("one POST to the same API", "roundtrip_ms"),
        ("Prefect's sync concurrency() enter + exit", "prefect_concurrency_ms"),
    ):
        values = found[key]
        rows.append(
            {"measure": label, "n": len(values), "median_ms": round(median(values), 3),
             "p90_ms": round(percentile(values, 90), 3), "p99_ms": round(percentile(values, 99), 3)}
        )  # fmt: skip
    slot, trip = median(found["slot_ms"]), median(found["roundtrip_ms"])
    ratio = slot / trip
    return report(
        NAME,
        f"Prefect slot vs one API round trip: {rounds} rounds, local prefect server",
        rows,
        params={
            "rounds": rounds,
            "server": "prefect server start (SQLite)",
            "api": api_url,
            "limit_size": 4,
            "load_avg_before": load_before,
            "load_avg_after": load_after,
        },  # fmt: skip
        summary={
            "slot_median_ms": round(slot, 3),
            "roundtrip_median_ms": round(trip, 3),
            "slot_over_roundtrip": round(ratio, 3),
            "prefect_concurrency_median_ms": round(median(found["prefect_concurrency_ms"]), 3),
            "target": TARGET,
            "met": ratio <= TARGET,
            "active_slots_after": found["active_slots_after"],
        },
    )


if __name__ == "__main__":
    main()
