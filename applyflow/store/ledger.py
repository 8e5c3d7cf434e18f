"""The ledger part of the store contract: usage of every call, spend sums, budget reservations.

The argument checks both implementations make before touching the database are here too, so
a bad call fails the same way on every store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from applyflow.errors import StoreError
from applyflow.models import ScopeCounters, SpendBucket, SpendGroup, UsageRecord, UsageTotal

__all__ = [
    "SPEND_FIELDS",
    "LedgerStore",
    "SpendField",
    "check_amount",
    "check_spend_field",
    "reservation_in_use",
]

SpendField = Literal["provider", "model", "layer", "job_id", "run_id"]
SPEND_FIELDS: tuple[SpendField, ...] = ("provider", "model", "layer", "job_id", "run_id")


def check_amount(reservation_id: str, name: str, usd: float) -> None:
    """``ValueError`` unless a reserved or settled amount is >= 0."""
    if usd < 0:
        raise ValueError(f"reservation {reservation_id!r}: {name} must be >= 0, got {usd}")


def check_spend_field(field: str) -> None:
    """``ValueError`` unless spend can be grouped by ``field`` (it names a column or field)."""
    if field not in SPEND_FIELDS:
        raise ValueError(f"cannot group spend by {field!r}; use one of {list(SPEND_FIELDS)}")


def reservation_in_use(reservation_id: str) -> StoreError:
    """The error for reserving under an id that is held or already settled."""
    return StoreError(f"reservation id {reservation_id!r} is already in use")


class LedgerStore(ABC):
    """The usage ledger (one row per settled call) and the budget (spent and reserved money per
    scope key: ``total``, ``month:2026-11``, ``day:2026-11-28``, ``run:<id>``, ``job:<id>``)."""

    # --- usage ledger ----------------------------------------------------------------------
    @abstractmethod
    def record_usage(self, record: UsageRecord) -> bool:
        """Append a settled call; False (and nothing written) if ``call_id`` exists."""

    @abstractmethod
    def usage_total(
        self,
        *,
        run_id: str | None = None,
        job_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SpendGroup:
        """Sum of calls, tokens and cost over the matching rows (``key`` is None)."""

    @abstractmethod
    def spend_by(
        self, field: SpendField, *, since: datetime | None = None, limit: int | None = None
    ) -> list[SpendGroup]:
        """Sums grouped by ``field``, most expensive first."""

    @abstractmethod
    def usage_totals(self) -> list[UsageTotal]:
        """Calls, tokens and cost of every recorded call per (provider, model, layer), sorted.

        Kept by the database as calls are recorded (SQLite: a trigger on ``usage``; MongoDB:
        one ``$inc`` per new call), so reading them never scans the ledger: a metrics scrape
        costs the same at a million calls as at ten.
        """

    @abstractmethod
    def spend_series(
        self, bucket: Literal["hour", "day"], since: datetime, until: datetime, tz: ZoneInfo
    ) -> list[SpendBucket]:
        """Contiguous buckets (zeros included) from ``since`` to ``until``; day buckets start
        at local midnight in ``tz``, hour buckets on the hour. Each bucket sums its whole
        span, so the first and last may include calls just outside ``since``/``until``
        (bounds: ``periods.spend_bucket_edges``)."""

    # --- budget ----------------------------------------------------------------------------
    @abstractmethod
    def reserve(
        self,
        reservation_id: str,
        caps: dict[str, float | None],
        amount: float,
        now: datetime,
        lease_s: float,
        *,
        enforce: bool = True,
    ) -> None:
        """Reserve ``amount`` against every scope key in ``caps`` (cap None = unlimited).

        All or nothing: if ``spent + reserved + amount > cap`` for any scope (with expired
        reservations swept first), raise ``BudgetExceeded`` for the first such scope and
        reserve nothing. Never lets the sum over a cap, across processes. With
        ``enforce=False`` the reservation is always made.
        """

    @abstractmethod
    def settle(
        self,
        reservation_id: str,
        scopes: Sequence[str],
        actual: float,
        now: datetime,
        usage: UsageRecord | None = None,
    ) -> None:
        """Replace the reservation with ``actual`` spend on each scope and append ``usage``.

        Idempotent per reservation id. If the reservation had already expired, ``actual`` is
        still added to every scope in ``scopes`` (the money was spent).
        """

    @abstractmethod
    def release(self, reservation_id: str) -> None:
        """Drop a reservation without spending (the call failed or never ran)."""

    @abstractmethod
    def expire_reservations(self, now: datetime) -> int:
        """Drop reservations whose lease has passed; how many."""

    @abstractmethod
    def scope_states(self, scopes: Sequence[str], now: datetime) -> dict[str, ScopeCounters]:
        """Spent and (unexpired) reserved per scope key; unknown scopes are zeros.

        A reservation is held while ``lease_until >= now`` and expired once ``now`` is past it.
        """

    @abstractmethod
    def open_reservations(self, now: datetime) -> int:
        """Unexpired reservations held right now."""
