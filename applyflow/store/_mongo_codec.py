"""Conversions shared by the MongoDB store: money as integers, datetimes, safe keys, job docs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from bson.int64 import Int64

from applyflow.errors import StoreError
from applyflow.models import Job, LayerOutput, SpendGroup, as_utc
from applyflow.settings import MASK, mask_url

# Money is stored as integer nano-dollars (as the SQLite store does): sums never drift and a
# sub-micro-dollar call (a few tokens of a cheap model) still counts.
NANO = 1_000_000_000
# Dynamic keys that end up in a `$set` path: no `$`, no `.`, nothing else surprising.
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def nanos(usd: float) -> Int64:
    """USD as 64-bit nano-dollars (BSON int64 even when small, so sums never hit int32)."""
    return Int64(round(usd * NANO))


def usd(amount: int | float) -> float:
    return amount / NANO


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


def database_name(url: str) -> str:
    """The database named by the URL path, ``applyflow`` when there is none."""
    name = unquote(urlsplit(url).path.lstrip("/")) or "applyflow"
    if re.search(r"[/\\. \"$]", name) or len(name) > 63:
        raise StoreError(f"invalid MongoDB database name {name!r} in {mask_url(url)}")
    return name


def masked(url: str, exc: BaseException) -> str:
    """The exception text with the URL's password hidden."""
    text = str(exc).replace(url, mask_url(url))
    password = urlsplit(url).password if "@" in url else None
    if password:
        text = text.replace(password, MASK).replace(unquote(password), MASK)
    return text


def next_local_midnight(start: datetime, tz: ZoneInfo, days: int = 1) -> datetime:
    """Local midnight ``days`` after the local day of ``start`` (DST-safe), as UTC."""
    day = start.astimezone(tz).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def output_doc(output: LayerOutput) -> dict[str, Any]:
    """A layer output as stored: the model-written dict as JSON text, so its keys never
    become field names (they may hold `$` or `.`)."""
    return {
        "output_json": json.dumps(output.model_dump(mode="json")["output"]),
        "input_hash": output.input_hash,
        "model": output.model,
        "cost_usd": output.cost_usd,
        "at": as_utc(output.at),
    }


def job_from_doc(doc: dict[str, Any]) -> Job:
    outputs = {
        layer: LayerOutput(
            output=json.loads(stored["output_json"]),
            input_hash=stored["input_hash"],
            model=stored["model"],
            cost_usd=stored.get("cost_usd", 0.0),
            at=as_utc(stored["at"]),
        )
        for layer, stored in (doc.get("outputs") or {}).items()
    }
    fields = {k: v for k, v in doc.items() if k not in ("_id", "outputs", "cost_nanos")}
    for key in ("posted_at", "ingested_at", "updated_at", "applied_at", "lease_until"):
        fields[key] = utc(fields.get(key))
    fields["cost_usd"] = usd(doc.get("cost_nanos", 0))
    return Job(id=doc["_id"], outputs=outputs, **fields)


# `$group` accumulators for usage sums (cost in nano-dollars).
USAGE_SUMS = {
    "calls": {"$sum": 1},
    "input_tokens": {"$sum": "$input_tokens"},
    "output_tokens": {"$sum": "$output_tokens"},
    "cost": {"$sum": "$cost_nanos"},
}


def spend_group(key: str | None, doc: dict[str, Any] | None) -> SpendGroup:
    doc = doc or {}
    return SpendGroup(
        key=key,
        calls=doc.get("calls", 0),
        input_tokens=doc.get("input_tokens", 0),
        output_tokens=doc.get("output_tokens", 0),
        cost_usd=usd(doc.get("cost", 0)),
    )


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
