"""Conversions shared by the MongoDB store's parts: money as BSON int64, datetimes, safe keys,
literal text matches, and per-bucket sums."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bson.int64 import Int64

from applyflow.models import as_utc
from applyflow.money import to_nanos

# Dynamic keys that end up in a `$set` path: no `$`, no `.`, nothing else surprising.
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def nanos(usd: float) -> Int64:
    """USD as 64-bit nano-dollars (BSON int64 even when small, so sums never hit int32)."""
    return Int64(to_nanos(usd))


def utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def safe_key(kind: str, key: str) -> str:
    """A key used inside a field path, or ``ValueError`` (never an operator or a sub-path)."""
    if not isinstance(key, str) or not _SAFE_KEY.match(key):
        raise ValueError(f"invalid {kind} name {key!r}: use letters, digits, '_' or '-'")
    return key


def literal(text: str) -> dict[str, str]:
    """Case-insensitive substring match on user text, taken literally (never a regex)."""
    return {"$regex": re.escape(str(text)), "$options": "i"}


def bucket_facets(field: str, bounds: list[datetime], output: dict[str, Any]) -> list[dict]:
    """An aggregation that sums ``output`` per [bounds[i], bounds[i+1]) of ``field``.

    One ``$facet`` sub-pipeline per bucket after an indexed range ``$match``, rather than
    ``$bucket``: mongomock's ``$bucket`` cannot compare the naive datetimes it stores with
    aware boundaries, while ``$match`` works the same on mongomock and a real server.
    """
    facets = {
        f"b{i}": [
            {"$match": {field: {"$gte": lo, "$lt": hi}}},
            {"$group": {"_id": None, **output}},
        ]
        for i, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False))
    }
    return [{"$match": {field: {"$gte": bounds[0], "$lt": bounds[-1]}}}, {"$facet": facets}]


def bucket_rows(result: list[dict[str, Any]], buckets: int) -> list[dict[str, Any]]:
    """Per-bucket sums from ``bucket_facets`` (an empty dict for an empty bucket)."""
    row = result[0] if result else {}
    return [(row.get(f"b{i}") or [{}])[0] for i in range(buckets)]
