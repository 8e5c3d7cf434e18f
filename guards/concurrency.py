"""Prefect global concurrency limits ``llm-<provider>``: created by ``applyflow setup``, held by
the guarded call around each model call so parallel calls are capped across every worker.

Prefect is imported lazily: the CLI and plain scripts never pay for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from applyflow.modelspec import parse_model
from applyflow.settings import Settings, env_name
from guards.pricing import models_in_use

__all__ = [
    "DEFAULT_SLOTS",
    "LEASE_S",
    "LimitChange",
    "configured_providers",
    "limit_name",
    "prefect_api_available",
    "provider_slot",
    "slots_for",
    "upsert_limits",
]

logger = logging.getLogger("applyflow.guards")

DEFAULT_SLOTS = 4
_HEALTH_TTL_S = 30.0
LEASE_S = 300.0  # a dead holder's slot frees itself after this

_warned: set[str] = set()
_health: dict[str, tuple[float, bool]] = {}
_lock = threading.Lock()


def limit_name(provider: str) -> str:
    return f"llm-{provider}"


def slots_for(settings: Settings, provider: str) -> int:
    """Parallel calls allowed for ``provider`` (``APPLYFLOW_MAX_PARALLEL_CALLS``, default 4)."""
    return settings.max_parallel_calls.get(provider, DEFAULT_SLOTS)


def configured_providers(settings: Settings) -> list[str]:
    """Providers of every model in use, plus any named in ``APPLYFLOW_MAX_PARALLEL_CALLS``."""
    providers = {parse_model(m).provider for m in models_in_use(settings)}
    return sorted(providers | set(settings.max_parallel_calls))


def _warn_once(key: str, message: str) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message)


def prefect_api_available() -> bool:
    """True inside a Prefect run, or when PREFECT_API_URL is set and its /health answers.

    Without either, using Prefect would start a temporary server just for one call.
    """
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.settings import PREFECT_API_URL

    if FlowRunContext.get() is not None or TaskRunContext.get() is not None:
        return True
    url = PREFECT_API_URL.value()
    if not url:
        return False
    now = time.monotonic()
    with _lock:
        cached = _health.get(url)
    if cached and now - cached[0] < _HEALTH_TTL_S:
        return cached[1]
    import httpx

    try:
        ok = httpx.get(f"{url.rstrip('/')}/health", timeout=3).status_code == 200
    except httpx.HTTPError:
        ok = False
    with _lock:
        _health[url] = (now, ok)
    if not ok:
        _warn_once(
            f"unreachable:{url}",
            f"Prefect API at {url} is unreachable: model calls run without an llm-* "
            "concurrency slot until it is back",
        )
    return ok


def _holder() -> Any:
    """The task run taking the slot, shown as the lease's holder in Prefect (no API call)."""
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    return ConcurrencyLeaseHolder(type="task_run", id=ctx.task_run.id) if ctx else None


@contextmanager
def provider_slot(
    settings: Settings, provider: str, enabled: bool | None = None, *, lease_s: float = LEASE_S
) -> Iterator[bool]:
    """Hold one slot of ``llm-<provider>`` for the block; yields whether a slot is held.

    ``enabled``: None = when a Prefect API is reachable, True = always, False = never.
    A missing limit is warned about once (with the fix) and the call goes ahead; so does an API
    error, unless ``enabled`` is True. No slot free within half ``APPLYFLOW_BUDGET_LEASE_S``:
    ``TimeoutError``. One API call to take the slot, one to give it back (``guards/slots.py``).
    """
    if enabled is False or (enabled is None and not prefect_api_available()):
        yield False
        return
    from guards.slots import SlotError, slot_client

    name = limit_name(provider)
    try:
        slots = slot_client()
        lease = slots.take(
            name, timeout_s=settings.budget_lease_s / 2, lease_s=lease_s, holder=_holder()
        )
    except SlotError as exc:
        if enabled is True:
            raise
        _warn_once(f"failed:{name}", f"could not take a {name!r} slot ({exc}); calling anyway")
        yield False
        return
    if lease is None:
        _warn_once(
            f"missing:{name}",
            f"Prefect concurrency limit {name!r} does not exist, so parallel {provider} calls "
            f"are not capped across workers; run `applyflow setup` to create it "
            f"(size from {env_name('max_parallel_calls')}, default {DEFAULT_SLOTS})",
        )
        yield False
        return
    try:
        yield True
    finally:
        slots.give_back(lease)


def _upsert_limit(client: Any, name: str, size: int) -> str:
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectNotFound

    try:
        current = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=size))
        return "created"
    if current.limit == size and current.active:
        return "unchanged"
    client.update_global_concurrency_limit(
        name, GlobalConcurrencyLimitUpdate(limit=size, active=True)
    )
    return "updated"


class LimitChange(NamedTuple):
    """What ``upsert_limits`` did to one limit: created, updated or unchanged."""

    name: str
    size: int
    action: str


def upsert_limits(settings: Settings, client: Any) -> list[LimitChange]:
    """Create or update (idempotently) every ``llm-<provider>`` limit through a Prefect client."""
    done = []
    for provider in configured_providers(settings):
        name, size = limit_name(provider), slots_for(settings, provider)
        done.append(LimitChange(name, size, _upsert_limit(client, name, size)))
    with _lock:
        _warned.clear()  # a limit that was missing may exist now: warn again if not
    return done
