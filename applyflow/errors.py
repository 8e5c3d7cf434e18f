"""applyflow's exceptions, in one hierarchy.

ApplyflowError                 base of everything applyflow raises on purpose
├── SettingsError              invalid settings; the message names every bad variable
├── StoreError                 the store is unreachable or refused an operation
│   └── JobNotFound            no job with that id
├── InvalidTransition          a status change that is not allowed (e.g. offer -> new)
├── InvalidDate                a status change dated in the future or before the application
├── InputError                 a posting or source that cannot be read (source, row, reason)
└── GuardError                 a guard refused a model call; nothing was sent
    ├── BudgetExceeded         a spend scope would go over its cap
    ├── RateLimited            a rate window stayed full past the wait bound
    ├── CircuitOpen            the provider's breaker is open
    └── PricingError           a model has no known price (fail closed, never $0)
LayerError                     a layer failed (bad model output after repair, provider error)
"""

from __future__ import annotations

from dataclasses import dataclass

from applyflow.money import format_usd


class ApplyflowError(Exception):
    """Base of every error applyflow raises on purpose."""


class SettingsError(ApplyflowError):
    """Invalid settings. The message names each bad variable, its value and what is allowed."""


class StoreError(ApplyflowError):
    """The store is unreachable, or refused an operation."""


class JobNotFound(StoreError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}; `applyflow jobs` lists the ids")
        self.job_id = job_id


class InvalidTransition(ApplyflowError):
    def __init__(self, job_id: str, current: str, target: str, allowed: list[str]) -> None:
        choices = ", ".join(allowed) if allowed else "none"
        super().__init__(
            f"job {job_id}: cannot change status from {current!r} to {target!r}; "
            f"allowed from {current!r}: {choices}"
        )
        self.job_id, self.current, self.target, self.allowed = job_id, current, target, allowed


class InvalidDate(ApplyflowError):
    """A backdated status change that cannot be: in the future, or before the application."""


class InputError(ApplyflowError):
    """A record or source that cannot be read. ``where`` is 'source:row' or similar."""

    def __init__(self, source: str, where: str | int | None, reason: str) -> None:
        loc = f"{source}:{where}" if where is not None else source
        super().__init__(f"{loc}: {reason}")
        self.source, self.where, self.reason = source, where, reason


class GuardError(ApplyflowError):
    """A guard refused a model call. Nothing was sent to the provider."""


@dataclass
class ScopeOverrun:
    """Numbers of the budget scope that refused a reservation."""

    scope: str
    cap: float
    spent: float
    reserved: float
    needed: float


class BudgetExceeded(GuardError):
    def __init__(self, overrun: ScopeOverrun) -> None:
        o = overrun
        super().__init__(
            f"{scope_label(o.scope)} budget exceeded: {format_usd(o.spent)} spent + "
            f"{format_usd(o.reserved)} reserved + {format_usd(o.needed)} needed > "
            f"{format_usd(o.cap, None)} cap"
        )
        self.overrun = overrun
        self.scope, self.cap, self.spent = o.scope, o.cap, o.spent
        self.reserved, self.needed = o.reserved, o.needed


def scope_label(scope: str) -> str:
    """``day:2026-11-28`` -> ``day``; ``total`` -> ``total``."""
    return scope.split(":", 1)[0]


class RateLimited(GuardError):
    def __init__(self, provider: str, limit: str, retry_after_s: float) -> None:
        super().__init__(f"{provider} rate limit {limit} reached; retry in {retry_after_s:.1f}s")
        self.provider, self.limit, self.retry_after_s = provider, limit, retry_after_s


class CircuitOpen(GuardError):
    def __init__(self, provider: str, retry_in_s: float) -> None:
        super().__init__(
            f"{provider} circuit breaker is open after repeated failures; "
            f"next try allowed in {retry_in_s:.1f}s"
        )
        self.provider, self.retry_in_s = provider, retry_in_s


class PricingError(GuardError):
    """A model with no known price. Add it to APPLYFLOW_PRICES or pick a priced model."""


class LayerError(ApplyflowError):
    def __init__(self, layer: str, reason: str) -> None:
        super().__init__(f"{layer} layer failed: {reason}")
        self.layer, self.reason = layer, reason
