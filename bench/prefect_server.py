"""Prefect's temporary API for benchmarks whose worker processes must share one server."""

from __future__ import annotations

import contextlib

__all__ = ["shared_api_url", "upsert_rate_limit"]


def shared_api_url() -> str:
    """The API this process talks to; without PREFECT_API_URL, the temporary server that
    Prefect's ephemeral mode starts (started here, so child processes can be pointed at it)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if url:
        return url
    server = SubprocessASGIServer()  # the same instance ephemeral mode uses in this process
    server.start(timeout=120)
    return server.api_url


def upsert_rate_limit(name: str, limit: int, slot_decay_per_second: float) -> None:
    """Create (or reset) a global concurrency limit with a slot decay: Prefect's rate limit."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        with contextlib.suppress(ObjectNotFound):  # a fresh limit: no slots left from before
            client.delete_global_concurrency_limit_by_name(name)
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(
                name=name, limit=limit, slot_decay_per_second=slot_decay_per_second
            )
        )
