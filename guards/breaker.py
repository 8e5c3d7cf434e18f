"""Circuit breakers (pybreaker), one per provider per store, shared by the whole process.

Only the model call itself counts: guard refusals, output-validation errors and provider 429s
are excluded. State changes are written to the store, so ``health`` and the dashboard see them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pybreaker
from pydantic import ValidationError

from applyflow.errors import CircuitOpen, GuardError, LayerError
from applyflow.models import BreakerState
from applyflow.settings import Settings
from applyflow.store import Store

__all__ = ["ProviderBreaker", "get_breaker", "reset_breakers", "retry_in_s"]

AlertFn = Callable[[str, str, str, str], None]  # kind, key, message, level


def _is_rate_refusal(exc: BaseException) -> bool:
    """A provider's own 429 is a rate problem, not an outage."""
    return getattr(exc, "status_code", None) == 429 or type(exc).__name__ == "RateLimitError"


def _not_an_error(exc: BaseException) -> bool:
    """Interrupts and cancellations say nothing about the provider's health."""
    return not isinstance(exc, Exception)


EXCLUDED: list[type[BaseException] | Callable[[BaseException], bool]] = [
    GuardError,
    ValidationError,
    LayerError,
    _is_rate_refusal,
    _not_an_error,
]


def retry_in_s(opened_at: datetime | None, reset_s: float, now: datetime | None = None) -> float:
    """Seconds until an open breaker lets a trial call through."""
    if opened_at is None:
        return 0.0
    now = now or datetime.now(UTC)
    return max(0.0, reset_s - (now - opened_at).total_seconds())


class _StoreListener(pybreaker.CircuitBreakerListener):
    """Writes each state change (and failure count) to the store; alerts on open and close."""

    def __init__(self, provider: str, store: Store, alert: AlertFn | None) -> None:
        self.provider, self.store, self.alert = provider, store, alert

    def _save(self, cb: pybreaker.CircuitBreaker, state: str) -> None:
        # pybreaker notifies before its storage holds the new state: take it from the event.
        # opened_at has no public accessor on the breaker, only on its state storage.
        self.store.save_breaker_state(
            BreakerState(
                provider=self.provider,
                state=state,
                fail_count=cb.fail_counter,
                opened_at=cb._state_storage.opened_at if state != "closed" else None,
            )
        )

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        self._save(cb, new_state.name)
        if self.alert is None or old_state is None:
            return
        if new_state.name == pybreaker.STATE_OPEN:
            self.alert(
                "breaker_open",
                f"breaker:{self.provider}:open",
                f"{self.provider} circuit breaker opened after {cb.fail_max} failures; "
                f"calls fail fast for {cb.reset_timeout:.0f}s",
                "error",
            )
        elif new_state.name == pybreaker.STATE_CLOSED:
            self.alert(
                "breaker_closed",
                f"breaker:{self.provider}:closed",
                f"{self.provider} circuit breaker closed: calls go through again",
                "info",
            )

    def failure(self, cb: pybreaker.CircuitBreaker, exc: BaseException) -> None:
        if cb.current_state == pybreaker.STATE_CLOSED:
            self._save(cb, pybreaker.STATE_CLOSED)


class ProviderBreaker:
    """A provider's breaker: fail fast while open, count only the model call's own failures."""

    def __init__(self, provider: str, settings: Settings, store: Store, alert: AlertFn | None):
        self.provider = provider
        self.listener = _StoreListener(provider, store, alert)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_s,
            exclude=EXCLUDED,
            listeners=[self.listener],
            name=f"llm-{provider}",
            # The provider's own error propagates unchanged, also on the failure that trips.
            throw_new_error_on_trip=False,
        )

    def rebind(self, settings: Settings, store: Store, alert: AlertFn | None) -> None:
        """Follow the latest settings and store of this process."""
        self.breaker.fail_max = settings.breaker_fail_max
        self.breaker.reset_timeout = settings.breaker_reset_s
        self.listener.store, self.listener.alert = store, alert

    @property
    def state(self) -> str:
        return self.breaker.current_state

    def check(self) -> None:
        """Raise ``CircuitOpen`` while open and its reset timeout has not passed."""
        if self.breaker.current_state != pybreaker.STATE_OPEN:
            return
        wait = retry_in_s(self.breaker._state_storage.opened_at, self.breaker.reset_timeout)
        if wait > 0:
            raise CircuitOpen(self.provider, wait)

    @contextmanager
    def guarding(self) -> Iterator[None]:
        """Run the block as one call through the breaker (not serialised, unlike ``call``)."""
        try:
            with self.breaker.calling():
                yield
        except pybreaker.CircuitBreakerError:
            # Another thread opened it between our check and this call.
            wait = retry_in_s(self.breaker._state_storage.opened_at, self.breaker.reset_timeout)
            raise CircuitOpen(self.provider, wait) from None


_registry: dict[tuple[str, str], ProviderBreaker] = {}
_registry_lock = threading.Lock()


def get_breaker(
    provider: str, settings: Settings, store: Store, alert: AlertFn | None = None
) -> ProviderBreaker:
    """The process-wide breaker of ``provider`` for this store."""
    key = (store.url, provider)
    with _registry_lock:
        breaker = _registry.get(key)
        if breaker is None:
            breaker = _registry[key] = ProviderBreaker(provider, settings, store, alert)
        else:
            breaker.rebind(settings, store, alert)
        return breaker


def reset_breakers() -> None:
    """Forget every breaker (tests; a fresh process starts empty anyway)."""
    with _registry_lock:
        _registry.clear()
