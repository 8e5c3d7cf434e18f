"""Budget scopes as a user sees them: cap, spent, reserved, remaining, percent and state."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from applyflow.periods import budget_scopes
from applyflow.settings import Settings
from applyflow.store import Store

SCOPE_CAP_FIELDS = {
    "total": "budget_total_usd",
    "month": "budget_monthly_usd",
    "day": "budget_daily_usd",
    "run": "budget_per_run_usd",
    "job": "budget_per_job_usd",
}


class ScopeState(StrEnum):
    """How a scope stands against its cap; members run from least to most severe."""

    UNLIMITED = "unlimited"  # no cap
    OK = "ok"
    WARNING = "warning"  # at APPLYFLOW_BUDGET_WARN_AT of the cap or more
    CRITICAL = "critical"  # at 90% or more
    EXCEEDED = "exceeded"

    @classmethod
    def worst(cls, states: Iterable[ScopeState]) -> ScopeState:
        order = list(cls)
        return max(states, key=order.index, default=cls.UNLIMITED)


# States that raise a budget warning alert.
WARNING_STATES = frozenset({ScopeState.WARNING, ScopeState.CRITICAL, ScopeState.EXCEEDED})


class ScopeSummary(BaseModel):
    kind: str  # total | month | day | run | job
    key: str  # store scope key, e.g. day:2026-11-28
    cap: float | None
    spent: float
    reserved: float
    remaining: float | None
    percent: float | None  # (spent + reserved) / cap * 100
    state: ScopeState


def scope_caps(
    settings: Settings, now: datetime, run_id: str | None = None, job_id: str | None = None
) -> dict[str, tuple[str, float | None]]:
    """Scope kind -> (scope key, cap) for a call at ``now``."""
    keys = budget_scopes(now, settings.tz, run_id=run_id, job_id=job_id)
    return {kind: (key, getattr(settings, SCOPE_CAP_FIELDS[kind])) for kind, key in keys.items()}


def scope_state(spent: float, reserved: float, cap: float | None, warn_at: float) -> ScopeState:
    if cap is None:
        return ScopeState.UNLIMITED
    if cap <= 0:
        return ScopeState.EXCEEDED if spent > 0 or cap == 0 else ScopeState.OK
    # Rounded like the percent shown beside it, so 0.009 of 0.01 reads 90% and "critical".
    share = round((spent + reserved) / cap, 6)
    if spent >= cap or share > 1:
        return ScopeState.EXCEEDED
    if share >= 0.9:
        return ScopeState.CRITICAL
    if share >= warn_at:
        return ScopeState.WARNING
    return ScopeState.OK


def budget_summary(
    settings: Settings,
    store: Store,
    now: datetime,
    run_id: str | None = None,
    job_id: str | None = None,
) -> list[ScopeSummary]:
    """Every applicable scope with its numbers, total first."""
    caps = scope_caps(settings, now, run_id=run_id, job_id=job_id)
    states = store.scope_states([key for key, _ in caps.values()], now)
    out = []
    for kind, (key, cap) in caps.items():
        st = states[key]
        remaining = None if cap is None else max(0.0, cap - st.spent - st.reserved)
        percent = None if not cap else round((st.spent + st.reserved) / cap * 100, 2)
        out.append(
            ScopeSummary(
                kind=kind,
                key=key,
                cap=cap,
                spent=round(st.spent, 6),
                reserved=round(st.reserved, 6),
                remaining=None if remaining is None else round(remaining, 6),
                percent=percent,
                state=scope_state(st.spent, st.reserved, cap, settings.budget_warn_at),
            )
        )
    return out
