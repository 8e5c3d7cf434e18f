"""Guards on every model call: pricing, budget reservations, rate limits, Prefect concurrency
slots, circuit breakers and alerts. Layers use ``ModelGuard.call``; nothing else calls a model.
"""

from guards.alerts import alert
from guards.budget import BudgetGuard, Reservation
from guards.call import CallContext, CallResult, ModelGuard, estimate_input_tokens
from guards.concurrency import configured_providers, limit_name, provider_slot, setup_prefect
from guards.health import provider_health
from guards.pricing import ModelPrice, check_prices, cost_usd, models_in_use, price_of
from guards.rate import RateGuard, rate_storage_url

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
