"""Budget guard: reserve the worst-case cost of a call against every scope before sending it,
then settle at the actual cost (or release on error).

Reservations are atomic in the store across processes, so concurrent calls can never together
go over a cap. A reservation left by a dead process expires after ``APPLYFLOW_BUDGET_LEASE_S``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from applyflow.errors import BudgetExceeded, scope_label
from applyflow.models import UsageRecord, utcnow
from applyflow.money import format_usd
from applyflow.settings import Settings
from applyflow.spend import WARNING_STATES, scope_caps, scope_state
from applyflow.store import Store
from guards.pricing import cost_usd

__all__ = ["BudgetGuard", "Reservation"]

logger = logging.getLogger("applyflow.guards")

AlertFn = Callable[..., bool]  # guards.alerts.alert with settings and store bound
# Warnings are keyed by scope key (which holds the period) and cap, and sent once per key.
_ONCE_S = 10 * 366 * 86_400


@dataclass(frozen=True)
class Reservation:
    """Money set aside for one call: its id, the scopes (key -> cap) and the amount."""

    id: str
    model: str
    caps: dict[str, float | None]
    amount: float
    input_tokens: int
    max_tokens: int


class BudgetGuard:
    """Reserve, settle and release spend against the configured scopes."""

    def __init__(self, settings: Settings, store: Store, alert: AlertFn) -> None:
        self.settings, self.store, self._alert = settings, store, alert

    def estimate(self, model: str, input_tokens: int, max_tokens: int) -> float:
        """Worst-case cost: the input estimate plus ``max_tokens`` output tokens, priced."""
        return cost_usd(self.settings, model, input_tokens, max_tokens)

    def reserve(
        self,
        model: str,
        input_tokens: int,
        max_tokens: int,
        *,
        run_id: str | None = None,
        job_id: str | None = None,
        now: datetime | None = None,
    ) -> Reservation:
        """Reserve the worst case on every scope, or raise ``BudgetExceeded`` (nothing held)."""
        now = now or utcnow()
        caps = {key: cap for key, cap in scope_caps(self.settings, now, run_id, job_id).values()}
        amount = self.estimate(model, input_tokens, max_tokens)
        reservation = Reservation(uuid.uuid4().hex, model, caps, amount, input_tokens, max_tokens)
        try:
            self.store.reserve(
                reservation.id,
                caps,
                amount,
                now,
                self.settings.budget_lease_s,
                enforce=self.settings.budget_enforce,
            )
        except BudgetExceeded as exc:
            self._alert(
                "budget_exceeded",
                f"budget_exceeded:{exc.scope}",
                f"{exc} (model {model}; call refused)",
                "error",
            )
            raise
        if not self.settings.budget_enforce:
            self._warn_unenforced(reservation, now)
        return reservation

    def _warn_unenforced(self, reservation: Reservation, now: datetime) -> None:
        """With enforcement off, a call over a cap goes ahead, but never silently."""
        states = self.store.scope_states(list(reservation.caps), now)
        for key, cap in reservation.caps.items():
            st = states[key]
            if cap is not None and st.spent + st.reserved > cap:
                self._alert(
                    "budget_exceeded",
                    f"budget_exceeded:{key}",
                    f"{scope_label(key)} budget over its cap and not enforced: "
                    f"{format_usd(st.spent)} spent + {format_usd(st.reserved)} reserved "
                    f"> {format_usd(cap, 2)} cap (APPLYFLOW_BUDGET_ENFORCE=false)",
                    "warning",
                )

    def settle(
        self,
        reservation: Reservation,
        actual: float,
        usage: UsageRecord,
        *,
        now: datetime | None = None,
    ) -> None:
        """Replace the reservation with ``actual`` spend and write the usage row."""
        now = now or utcnow()
        self.store.settle(reservation.id, list(reservation.caps), actual, now, usage)
        self._warn_thresholds(reservation, now)

    def release(self, reservation: Reservation) -> None:
        """Give the reservation back (the call failed or never ran)."""
        self.store.release(reservation.id)

    def _warn_thresholds(self, reservation: Reservation, now: datetime) -> None:
        """One alert per scope and period once spend reaches the warn threshold."""
        capped = {key: cap for key, cap in reservation.caps.items() if cap is not None}
        if not capped:
            return
        states = self.store.scope_states(list(capped), now)
        for key, cap in capped.items():
            st = states[key]
            state = scope_state(st.spent, st.reserved, cap, self.settings.budget_warn_at)
            if state not in WARNING_STATES:
                continue
            share = (st.spent + st.reserved) / cap * 100 if cap else 100.0
            self._alert(
                "budget_warning",
                f"budget_warning:{key}:cap={cap:g}",
                f"{scope_label(key)} budget ({key}) at {share:.0f}% of its {format_usd(cap, 2)} "
                f"cap: {format_usd(st.spent)} spent, {format_usd(st.reserved)} reserved",
                "warning",
                dedup_s=_ONCE_S,
            )
