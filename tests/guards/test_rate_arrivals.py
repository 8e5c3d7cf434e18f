"""The provider sees the configured rate: arrivals recorded by a loopback provider, with three
processes sharing one rate window (SQLite or a real Redis) through the whole guarded call.

The invariant is the provider's: in no window of the limit's length do more requests arrive
than the limit, while the limit is still used (the saturated rate within 10% of it). A window is
taken right before the request leaves, so what separates admission from arrival is the client's
own send work (LangChain and the OpenAI client building and writing the request: a few ms, tens
under this machine's load); the windows checked are shorter by that allowance, ``SEND_S``.
Before the guard took the window last, the first calls of each process arrived a second late
(the model client was built after admission) and bunched with the next window's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from applyflow.offline_provider import OfflineProvider, start_offline_provider
from applyflow.store.sqlite import SQLiteStore
from tests import multiproc
from tests.guards import _workers

PROCESSES, THREADS, CALLS_EACH = 3, 2, 2  # 12 calls: three full windows
LIMIT, WINDOW_S = 4, 4.0
SEND_S = 0.25  # the admission-to-arrival allowance (see the docstring)


def _emptied(redis_url: str) -> str:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    return redis_url


@pytest.fixture(params=["sqlite", "redis"])
def rate_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ratelimits.db'}"
    return _emptied(request.getfixturevalue("redis_url"))


@pytest.fixture
def provider() -> Iterator[OfflineProvider]:
    server = start_offline_provider(latency_s=0.05)
    try:
        yield server
    finally:
        server.stop()


def most_in_a_window(arrivals: list[float], window_s: float) -> int:
    """The most arrivals inside any window of ``window_s`` (each window starting at one)."""
    return max(
        sum(1 for t in arrivals[i:] if t < start + window_s) for i, start in enumerate(arrivals)
    )


def test_most_in_a_window_counts_bursts() -> None:
    assert most_in_a_window([0.0, 0.1, 1.9, 2.0, 2.1], 2.0) == 3
    assert most_in_a_window([0.0, 2.0, 4.0], 2.0) == 1


def test_three_processes_arrive_at_the_provider_within_the_limit(
    rate_url: str, provider: OfflineProvider, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path / 'applyflow.db'}"
    SQLiteStore(store_url).close()  # the schema once, before the race
    check_arrivals(store_url, rate_url, provider, slots=False)


def check_arrivals(
    store_url: str, rate_url: str, provider: OfflineProvider, *, slots: bool
) -> None:
    """Three processes call through the guard; the provider's arrivals keep the limit, and
    use it."""
    limit = f"{LIMIT}/{WINDOW_S:g} seconds"
    args = (store_url, rate_url, provider.url, limit, THREADS, CALLS_EACH, slots)
    made = multiproc.run_together(_workers.arrival_worker, [args] * PROCESSES)
    arrivals = sorted(r.arrived for r in provider.requests)[PROCESSES:]  # not the warm-ups
    total = PROCESSES * THREADS * CALLS_EACH
    assert sum(made) == len(arrivals) == total
    assert most_in_a_window(arrivals, WINDOW_S - SEND_S) <= LIMIT, arrivals
    # Saturated: each window opened as soon as the one before allowed (the calls of the first
    # windows over the time until the last window's first call; its last calls may wait for a
    # slot, which is the slots' business, not the rate's).
    rate = (total - LIMIT) / (arrivals[total - LIMIT] - arrivals[0])
    assert rate >= 0.9 * LIMIT / WINDOW_S, (rate, arrivals)
