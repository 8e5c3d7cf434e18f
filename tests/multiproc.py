"""Spawned-process test harness: workers started together behind a barrier, one result each.

Used by every cross-process test (claims in ``tests/store``, rate and budget in
``tests/guards``). A spawned child imports its target by module name, so targets live in
importable modules (``tests/guards/_workers.py``) or at a test module's top level.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from typing import Any

SPAWN = multiprocessing.get_context("spawn")
WAIT_S = 120  # generous bound for a slow CI box; never reached when things work


def run_together(target: Callable[..., None], argsets: Sequence[tuple[Any, ...]]) -> list[Any]:
    """One process per argument tuple, each calling ``target(*args, barrier, results)``; the
    barrier releases them at once and each puts one result. The results, in arrival order;
    fails unless every process exits 0."""
    barrier, results = SPAWN.Barrier(len(argsets)), SPAWN.Queue()
    procs = [SPAWN.Process(target=target, args=(*args, barrier, results)) for args in argsets]
    for proc in procs:
        proc.start()
    try:
        out = [results.get(timeout=WAIT_S) for _ in procs]
    finally:
        _reap(procs)
    assert [proc.exitcode for proc in procs] == [0] * len(procs)
    return out


def run_alone(target: Callable[..., None], *args: Any) -> int | None:
    """Run ``target(*args)`` in one spawned process to its end; its exit code."""
    proc = SPAWN.Process(target=target, args=args)
    proc.start()
    _reap([proc])
    return proc.exitcode


def _reap(procs: list[Any]) -> None:
    """Wait for each process; kill one still running at the deadline (none is left behind)."""
    deadline = time.monotonic() + WAIT_S
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()
