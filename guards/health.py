"""Guard health per provider: breaker state, rate windows and budget state, for `health` and
the dashboard."""

from __future__ import annotations

from typing import Any

from applyflow.models import utcnow
from applyflow.settings import Settings
from applyflow.spend import budget_summary
from applyflow.store import Store
from guards.breaker import retry_in_s
from guards.rate import RateGuard

__all__ = ["provider_health"]

_SEVERITY = ["unlimited", "ok", "warning", "critical", "exceeded"]


def _budget(settings: Settings, store: Store) -> dict[str, Any]:
    """The worst scope's state and every scope's numbers (budgets are shared by providers)."""
    scopes = budget_summary(settings, store, utcnow())
    worst = max(scopes, key=lambda s: _SEVERITY.index(s.state))
    return {
        "state": worst.state,
        "scope": worst.key,
        "scopes": [s.model_dump() for s in scopes],
    }


def provider_health(settings: Settings, store: Store, providers: list[str]) -> list[dict]:
    """One entry per provider: its breaker (as last written to the store), rate windows and
    the budget state."""
    breakers = {b.provider: b for b in store.breaker_states()}
    rate = RateGuard(settings)
    budget = _budget(settings, store)
    out = []
    for provider in providers:
        saved = breakers.get(provider)
        state = saved.state if saved else "closed"
        retry = retry_in_s(saved.opened_at, settings.breaker_reset_s) if state == "open" else 0.0
        out.append(
            {
                "provider": provider,
                "breaker": {
                    "state": state,
                    "fail_count": saved.fail_count if saved else 0,
                    "opened_at": saved.opened_at.isoformat() if saved and saved.opened_at else None,
                    "retry_in_s": round(retry, 1),
                    "updated_at": saved.updated_at.isoformat() if saved else None,
                },
                "rate": rate.windows(provider),
                "budget": budget,
            }
        )
    return out
