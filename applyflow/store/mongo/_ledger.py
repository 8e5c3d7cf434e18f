"""The MongoDB store's money side: the usage ledger and spend sums; the budget counters and
reservations are ``_budget`` (its docstring has the protocol)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from applyflow import periods
from applyflow.models import TOKEN_CLASSES, SpendBucket, SpendGroup, UsageRecord, UsageTotal
from applyflow.money import from_nanos
from applyflow.store.ledger import LedgerStore, SpendField, check_spend_field
from applyflow.store.mongo._budget import MongoBudget, usage_doc
from applyflow.store.mongo._codec import bucket_facets, bucket_rows
from applyflow.store.mongo.indexes import order

_TOKENS = ("input_tokens", "output_tokens", *TOKEN_CLASSES)
# `$group` accumulators for usage sums (cost in nano-dollars); a row from before the token
# classes has none of them, which `$sum` counts as 0.
_USAGE_SUMS = {
    "calls": {"$sum": 1},
    **{name: {"$sum": f"${name}"} for name in _TOKENS},
    "cost": {"$sum": "$cost_nanos"},
}


def _tokens(doc: dict[str, Any]) -> dict[str, int]:
    return {name: doc.get(name, 0) for name in _TOKENS}


def _spend_group(key: str | None, doc: dict[str, Any] | None) -> SpendGroup:
    doc = doc or {}
    return SpendGroup(
        key=key,
        calls=doc.get("calls", 0),
        **_tokens(doc),
        cost_usd=from_nanos(doc.get("cost", 0)),
    )


class MongoLedger(MongoBudget, LedgerStore):
    """``LedgerStore`` on MongoDB."""

    # --- usage ledger ----------------------------------------------------------------------
    def record_usage(self, record: UsageRecord) -> bool:
        return self._insert_usage(usage_doc(record))

    def usage_total(
        self,
        *,
        run_id: str | None = None,
        job_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SpendGroup:
        """Sum over usage rows with ``since <= at < until``."""
        match: dict[str, Any] = {}
        if run_id is not None:
            match["run_id"] = str(run_id)
        if job_id is not None:
            match["job_id"] = str(job_id)
        at: dict[str, datetime] = {}
        if since is not None:
            at["$gte"] = since
        if until is not None:
            at["$lt"] = until
        if at:
            match["at"] = at
        pipeline = [{"$match": match}, {"$group": {"_id": None, **_USAGE_SUMS}}]
        rows = list(self._usage.aggregate(pipeline))
        return _spend_group(None, rows[0] if rows else None)

    def spend_by(
        self, field: SpendField, *, since: datetime | None = None, limit: int | None = None
    ) -> list[SpendGroup]:
        """Sums grouped by ``field`` (a fixed whitelist), most expensive first."""
        check_spend_field(field)
        pipeline: list[dict[str, Any]] = []
        if since is not None:
            pipeline.append({"$match": {"at": {"$gte": since}}})
        pipeline += [
            {"$group": {"_id": f"${field}", **_USAGE_SUMS}},
            {"$sort": {"cost": -1, "_id": 1}},
        ]
        if limit is not None:
            pipeline.append({"$limit": int(limit)})
        return [_spend_group(row["_id"], row) for row in self._usage.aggregate(pipeline)]

    def usage_totals(self) -> list[UsageTotal]:
        return [
            UsageTotal(
                provider=doc["provider"],
                model=doc["model"],
                layer=doc["layer"] or None,
                calls=doc["calls"],
                **_tokens(doc),
                cost_usd=from_nanos(doc["cost_nanos"]),
            )
            for doc in self._usage_totals.find().sort(order("usage_totals"))
        ]

    def spend_series(
        self, bucket: Literal["hour", "day"], since: datetime, until: datetime, tz: ZoneInfo
    ) -> list[SpendBucket]:
        """Bounds from ``applyflow.periods``; the database sums each whole bucket (``$facet``)."""
        edges = periods.spend_bucket_edges(bucket, since, until, tz)
        if not edges:
            return []
        output = {"calls": {"$sum": 1}, "cost": {"$sum": "$cost_nanos"}}
        pipeline = bucket_facets("at", edges, output)
        rows = bucket_rows(list(self._usage.aggregate(pipeline)), len(edges) - 1)
        return [
            SpendBucket(
                start=start, cost_usd=from_nanos(row.get("cost", 0)), calls=row.get("calls", 0)
            )
            for start, row in zip(edges[:-1], rows, strict=True)
        ]
