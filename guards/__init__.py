"""Guards on every model call: pricing, budget reservations, rate limits, Prefect concurrency
slots, circuit breakers and alerts. Layers use ``ModelGuard.call``; nothing else calls a model.

Names are imported on first use, so ``import guards.rate`` (e.g. in a worker process) does not
pay for LangChain.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BudgetGuard": "guards.budget",
    "CallContext": "guards.call",
    "CallResult": "guards.call",
    "ModelGuard": "guards.call",
    "ModelPrice": "guards.pricing",
    "RateGuard": "guards.rate",
    "Reservation": "guards.budget",
    "alert": "guards.alerts",
    "check_prices": "guards.pricing",
    "configured_providers": "guards.concurrency",
    "cost_usd": "guards.pricing",
    "estimate_input_tokens": "guards.call",
    "limit_name": "guards.concurrency",
    "models_in_use": "guards.pricing",
    "price_of": "guards.pricing",
    "provider_health": "guards.health",
    "provider_slot": "guards.concurrency",
    "rate_storage_url": "guards.rate",
    "setup_prefect": "guards.concurrency",
}

__all__ = [
    "BudgetGuard",
    "CallContext",
    "CallResult",
    "ModelGuard",
    "ModelPrice",
    "RateGuard",
    "Reservation",
    "alert",
    "check_prices",
    "configured_providers",
    "cost_usd",
    "estimate_input_tokens",
    "limit_name",
    "models_in_use",
    "price_of",
    "provider_health",
    "provider_slot",
    "rate_storage_url",
    "setup_prefect",
]

if TYPE_CHECKING:
    from guards.alerts import alert
    from guards.budget import BudgetGuard, Reservation
    from guards.call import CallContext, CallResult, ModelGuard, estimate_input_tokens
    from guards.concurrency import configured_providers, limit_name, provider_slot, setup_prefect
    from guards.health import provider_health
    from guards.pricing import ModelPrice, check_prices, cost_usd, models_in_use, price_of
    from guards.rate import RateGuard, rate_storage_url


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'guards' has no attribute {name!r}")
    return getattr(import_module(module), name)
