"""The alerts part of the store contract: deduplicated alerts and circuit-breaker states."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from applyflow.models import Alert, BreakerState

__all__ = ["AlertStore"]


class AlertStore(ABC):
    """Alerts (deduplicated by key) and each provider's last breaker state."""

    @abstractmethod
    def record_alert(self, alert: Alert, dedup_s: float) -> bool:
        """Store the alert unless one with the same key was stored in the last ``dedup_s``
        seconds (atomic across processes); True if stored."""

    @abstractmethod
    def list_alerts(self, limit: int = 50, since: datetime | None = None) -> list[Alert]:
        """Newest first."""

    @abstractmethod
    def alert_counts(self) -> dict[str, int]:
        """Alerts stored per kind (only kinds that have alerts)."""

    @abstractmethod
    def save_breaker_state(self, state: BreakerState) -> None: ...

    @abstractmethod
    def breaker_states(self) -> list[BreakerState]: ...
