"""Guard health per provider: breaker state, rate windows and budget state, for `health` and
the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, PlainSerializer

from applyflow.models import utcnow
from applyflow.modelspec import parse_model
from applyflow.settings import Settings, mask_url
from applyflow.spend import SCOPE_CAP_FIELDS, ScopeState, ScopeSummary, budget_summary
from applyflow.store import Store
from guards.breaker import retry_in_s
from guards.concurrency import slots_for
from guards.pricing import models_in_use
from guards.rate import RateGuard, RateWindow, rate_storage_url, request_limits, token_limits

__all__ = [
    "BreakerHealth",
    "BudgetHealth",
    "GuardSettings",
    "ProviderGuards",
    "ProviderHealth",
    "effective_guards",
    "provider_health",
    "providers_in_use",
]

# Shown as ``datetime.isoformat()`` (``+00:00``), as `applyflow health --json` always has.
IsoTime = Annotated[datetime, PlainSerializer(datetime.isoformat, when_used="json")]


class BreakerHealth(BaseModel):
    """A provider's circuit breaker as last written to the store (closed if never used)."""

    state: str = "closed"  # closed | open | half-open
    fail_count: int = 0
    opened_at: IsoTime | None = None
    retry_in_s: float = 0.0
    updated_at: IsoTime | None = None


class BudgetHealth(BaseModel):
    """The worst scope's state and every scope's numbers (budgets are shared by providers)."""

    state: ScopeState
    scope: str
    scopes: list[ScopeSummary]


class ProviderHealth(BaseModel):
    provider: str
    breaker: BreakerHealth
    rate: list[RateWindow]
    budget: BudgetHealth


def _budget(settings: Settings, store: Store) -> BudgetHealth:
    scopes = budget_summary(settings, store, utcnow())
    worst = ScopeState.worst(s.state for s in scopes)
    return BudgetHealth(
        state=worst, scope=next(s.key for s in scopes if s.state == worst), scopes=scopes
    )


def providers_in_use(settings: Settings) -> list[str]:
    """Providers of the model, the per-layer models and the fallback, sorted."""
    return sorted({parse_model(m).provider for m in models_in_use(settings)})


def provider_health(
    settings: Settings, store: Store, providers: list[str] | None = None
) -> list[ProviderHealth]:
    """One entry per provider (default: those in use): its breaker (as last written to the
    store), rate windows and the budget state."""
    if providers is None:
        providers = providers_in_use(settings)
    breakers = {b.provider: b for b in store.breaker_states()}
    rate = RateGuard(settings)
    budget = _budget(settings, store)
    out = []
    for provider in providers:
        saved = breakers.get(provider)
        breaker = BreakerHealth()
        if saved is not None:
            retry = retry_in_s(saved.opened_at, settings.breaker_reset_s)
            breaker = BreakerHealth(
                state=saved.state,
                fail_count=saved.fail_count,
                opened_at=saved.opened_at,
                retry_in_s=round(retry, 1) if saved.state == "open" else 0.0,
                updated_at=saved.updated_at,
            )
        out.append(
            ProviderHealth(
                provider=provider, breaker=breaker, rate=rate.windows(provider), budget=budget
            )
        )
    return out


class ProviderGuards(BaseModel):
    """A provider's rate limits and parallel-call slots as a process applies them."""

    provider: str
    requests: list[str]  # e.g. "500 per 1 minute"; none: unlimited
    tokens: list[str]
    slots: int  # llm-<provider> Prefect limit size applyflow setup creates


class GuardSettings(BaseModel):
    """The guard settings a process runs with, defaults applied, without secrets: stored on
    each run (``Run.guards``) so the dashboard shows what the workers use, not its own."""

    providers: list[ProviderGuards]
    caps: dict[str, float | None]  # scope kind -> USD cap (None: no cap)
    budget_warn_at: float
    breaker_fail_max: int
    breaker_reset_s: float
    rate_max_wait_s: float
    rate_storage: str  # masked URL


def effective_guards(settings: Settings, providers: list[str] | None = None) -> GuardSettings:
    """The guard settings ``settings`` give for ``providers`` (default: those in use)."""
    if providers is None:
        providers = providers_in_use(settings)
    return GuardSettings(
        providers=[
            ProviderGuards(
                provider=p,
                requests=[str(item) for item in request_limits(settings, p)],
                tokens=[str(item) for item in token_limits(settings, p)],
                slots=slots_for(settings, p),
            )
            for p in providers
        ],
        caps={kind: getattr(settings, name) for kind, name in SCOPE_CAP_FIELDS.items()},
        budget_warn_at=settings.budget_warn_at,
        breaker_fail_max=settings.breaker_fail_max,
        breaker_reset_s=settings.breaker_reset_s,
        rate_max_wait_s=settings.rate_max_wait_s,
        rate_storage=mask_url(rate_storage_url(settings)),
    )
