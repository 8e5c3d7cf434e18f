"""Process entry points for the Prefect slot tests (spawned, so they must be importable)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from tests.multiproc import WAIT_S

HOLD_S = 0.2  # how long each holder keeps its slot: the model call it stands for


def slot_worker(api_url: str, name: str, threads: int, rounds: int, barrier: Any, results: Any):
    """``threads`` threads sharing this process's slot client each take and give back a slot of
    ``name`` ``rounds`` times; report every (entered, left) wall-clock span held."""
    os.environ["PREFECT_API_URL"] = api_url
    from guards.slots import slot_client

    slots = slot_client()
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def hold() -> None:
        for _ in range(rounds):
            lease = slots.take(name, timeout_s=WAIT_S)
            assert lease is not None, f"limit {name} is missing"
            entered = time.time()  # after the server granted the slot
            time.sleep(HOLD_S)
            left = time.time()  # before the server is told it is free
            slots.give_back(lease)
            with lock:
                spans.append((entered, left))

    barrier.wait(WAIT_S)
    workers = [threading.Thread(target=hold) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(WAIT_S)
    slots.flush()  # a spawned child ends with os._exit: no atexit flush
    results.put((os.getpid(), spans))


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of spans open at the same instant."""
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    open_now = peak = 0
    for _, step in edges:  # at a tie, -1 sorts first: touching spans do not overlap
        open_now += step
        peak = max(peak, open_now)
    return peak
