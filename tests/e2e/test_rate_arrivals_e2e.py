"""The provider sees the configured rate while every call also waits for a Prefect slot.

As ``tests/guards/test_rate_arrivals.py``, with each call holding an ``llm-openai`` slot of the
session's real ``prefect server`` (2 slots for 6 threads, a provider answering in 0.3 s): the
slot waits vary per call, which is what bunched arrivals when the rate window was taken before
the slot (issue #18: 14 arrivals in a window of 8).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, temporary_settings

from applyflow.offline_provider import OfflineProvider, start_offline_provider
from applyflow.store.sqlite import SQLiteStore
from tests.e2e.conftest import PrefectServer
from tests.guards.test_rate_arrivals import check_arrivals

pytestmark = pytest.mark.e2e

SLOTS = 2


@pytest.fixture
def slow_provider() -> Iterator[OfflineProvider]:
    server = start_offline_provider(latency_s=0.3)
    try:
        yield server
    finally:
        server.stop()


def test_arrivals_keep_the_limit_behind_contended_prefect_slots(
    prefect_server: PrefectServer,
    redis_url: str,
    slow_provider: OfflineProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    with (
        temporary_settings({PREFECT_API_URL: prefect_server.api_url}),
        get_client(sync_client=True) as client,
    ):
        with contextlib.suppress(ObjectNotFound):  # a limit another test made
            client.delete_global_concurrency_limit_by_name("llm-openai")
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="llm-openai", limit=SLOTS)
        )
    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)  # the spawned workers' API
    store_url = f"sqlite:///{tmp_path / 'applyflow.db'}"
    SQLiteStore(store_url).close()
    check_arrivals(store_url, redis_url, slow_provider, slots=True)
