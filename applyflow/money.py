"""Money as applyflow keeps it: integer nano-dollars (1 USD = 10**9 nano-dollars); and as it
shows it: ``format_usd``.

Both stores hold every amount (costs, spend, reservations, caps) as an integer, so sums never
drift with float rounding, cap checks are exact (three $0.10 reservations fit a $0.30 cap) and
a sub-micro-dollar call (a few tokens of a cheap model) still counts.
"""

from __future__ import annotations

__all__ = ["NANOS_PER_USD", "format_usd", "from_nanos", "to_nanos"]

NANOS_PER_USD = 1_000_000_000


def to_nanos(usd: float) -> int:
    """Dollars to integer nano-dollars (rounded to the nearest)."""
    return round(usd * NANOS_PER_USD)


def from_nanos(nanos: int | None) -> float:
    """Integer nano-dollars to dollars; None (nothing summed) is $0."""
    return (nanos or 0) / NANOS_PER_USD


def format_usd(value: float | None, digits: int | None = 4, *, none: str = "-") -> str:
    """``$1,234.5678`` with ``digits`` places, and ``none`` for a missing amount (no cap).

    ``digits=None`` is for caps: cents when they say it all (``$5.00``), else four places
    (``$0.0010``, which cents would show as ``$0.00``).
    """
    if value is None:
        return none
    if digits is None:
        digits = 2 if round(value, 2) == value else 4
    return f"${value:,.{digits}f}"
