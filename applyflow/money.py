"""Money as applyflow keeps it: integer nano-dollars (1 USD = 10**9 nano-dollars).

Both stores hold every amount (costs, spend, reservations, caps) as an integer, so sums never
drift with float rounding, cap checks are exact (three $0.10 reservations fit a $0.30 cap) and
a sub-micro-dollar call (a few tokens of a cheap model) still counts.
"""

from __future__ import annotations

__all__ = ["NANOS_PER_USD", "from_nanos", "to_nanos"]

NANOS_PER_USD = 1_000_000_000


def to_nanos(usd: float) -> int:
    """Dollars to integer nano-dollars (rounded to the nearest)."""
    return round(usd * NANOS_PER_USD)


def from_nanos(nanos: int | None) -> float:
    """Integer nano-dollars to dollars; None (nothing summed) is $0."""
    return (nanos or 0) / NANOS_PER_USD
