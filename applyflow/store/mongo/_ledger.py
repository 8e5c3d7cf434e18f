"""The MongoDB store's money side: usage ledger, spend sums, budget counters and reservations.

Budget without multi-document transactions. Each scope has a counter doc
``{_id: scope, spent, reserved}`` (integer nano-dollars); ``reserve`` raises it with a
conditional ``find_one_and_update`` whose ``$expr`` filter is ``spent + reserved + amount <=
cap``, so no interleaving of processes can pass a cap. A reservation doc ``{_id, state, scopes,
held, amount, lease_until}`` moves ``open -> settled | released | expired`` by one atomic
``find_one_and_update``; only the caller that wins that move touches the counters, so each
reservation is undone exactly once. ``held`` lists the scopes whose counter was raised (pushed
after each raise), so a reservation interrupted half-way is undone on exactly those scopes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bson.int64 import Int64
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from applyflow import periods
from applyflow.errors import BudgetExceeded, ScopeOverrun
from applyflow.models import (
    ScopeCounters,
    SpendBucket,
    SpendGroup,
    UsageRecord,
    UsageTotal,
    as_utc,
)
from applyflow.money import from_nanos
from applyflow.store.ledger import (
    LedgerStore,
    SpendField,
    check_amount,
    check_spend_field,
    reservation_in_use,
)
from applyflow.store.mongo._client import MongoBase
from applyflow.store.mongo._codec import bucket_facets, bucket_rows, nanos
from applyflow.store.mongo._rollups import add_usage, usage_inc, usage_key

_LATE = ("expired", "released")
# `$group` accumulators for usage sums (cost in nano-dollars).
_USAGE_SUMS = {
    "calls": {"$sum": 1},
    "input_tokens": {"$sum": "$input_tokens"},
    "output_tokens": {"$sum": "$output_tokens"},
    "cost": {"$sum": "$cost_nanos"},
}


def _spend_group(key: str | None, doc: dict[str, Any] | None) -> SpendGroup:
    doc = doc or {}
    return SpendGroup(
        key=key,
        calls=doc.get("calls", 0),
        input_tokens=doc.get("input_tokens", 0),
        output_tokens=doc.get("output_tokens", 0),
        cost_usd=from_nanos(doc.get("cost", 0)),
    )


class MongoLedger(MongoBase, LedgerStore):
    """``LedgerStore`` on MongoDB."""

    # --- usage ledger ----------------------------------------------------------------------
    def record_usage(self, record: UsageRecord) -> bool:
        doc = record.model_dump(exclude={"cost_usd"})
        doc["cost_nanos"] = nanos(record.cost_usd)
        doc["at"] = as_utc(record.at)
        try:
            self._usage.insert_one(doc)
        except DuplicateKeyError:
            return False
        # Only the writer whose insert won counts the call in the totals.
        key = usage_key(record.provider, record.model, record.layer)
        add_usage(self._db, key, usage_inc(record.input_tokens, record.output_tokens,
                                           record.cost_usd))  # fmt: skip
        return True

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
        order = [("provider", 1), ("model", 1), ("layer", 1)]
        return [
            UsageTotal(
                provider=doc["provider"],
                model=doc["model"],
                layer=doc["layer"] or None,
                calls=doc["calls"],
                input_tokens=doc["input_tokens"],
                output_tokens=doc["output_tokens"],
                cost_usd=from_nanos(doc["cost_nanos"]),
            )
            for doc in self._usage_totals.find().sort(order)
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

    # --- budget ----------------------------------------------------------------------------
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
        """Raise each scope counter with a conditional update; undo them all on a refusal."""
        check_amount(reservation_id, "amount", amount)
        reservation_id = str(reservation_id)  # ids are values, never query documents
        caps = {str(scope): cap for scope, cap in caps.items()}
        self.expire_reservations(now)
        need = nanos(amount)
        self._open(reservation_id, list(caps), need, now + timedelta(seconds=lease_s))
        for scope, cap in caps.items():
            self._ensure_counter(scope)
            query: dict[str, Any] = {"_id": scope}
            if enforce and cap is not None:
                total = {"$add": ["$spent", "$reserved", need]}
                query["$expr"] = {"$lte": [total, nanos(cap)]}
            if self._budget.find_one_and_update(query, {"$inc": {"reserved": need}}) is None:
                counter = self._budget.find_one({"_id": scope}) or {}
                self._close(reservation_id, "released")
                raise BudgetExceeded(
                    ScopeOverrun(
                        scope=scope,
                        cap=float(cap or 0.0),
                        spent=from_nanos(counter.get("spent", 0)),
                        reserved=from_nanos(counter.get("reserved", 0)),
                        needed=amount,
                    )
                )
            self._reservations.update_one({"_id": reservation_id}, {"$push": {"held": scope}})

    def _open(self, reservation_id: str, scopes: list[str], need: int, lease: datetime) -> None:
        """Store the open reservation doc; an id may be reused only once released/expired."""
        doc = {"state": "open", "scopes": scopes, "held": [], "amount": need, "lease_until": lease}
        try:
            self._reservations.insert_one({"_id": reservation_id, **doc})
            return
        except DuplicateKeyError:
            pass
        reused = self._reservations.replace_one(
            {"_id": reservation_id, "state": {"$in": list(_LATE)}}, doc
        )
        if reused.matched_count == 0:
            raise reservation_in_use(reservation_id)

    def settle(
        self,
        reservation_id: str,
        scopes: Sequence[str],
        actual: float,
        now: datetime,
        usage: UsageRecord | None = None,
    ) -> None:
        """Move the reservation to spent once; a late settle (after expiry) still adds spend."""
        check_amount(reservation_id, "actual", actual)
        reservation_id, scopes, spent = str(reservation_id), [str(s) for s in scopes], nanos(actual)
        if self._close(reservation_id, "settled", scopes, spent) is None:
            self._settle_late(reservation_id, scopes, spent)
        if usage is not None:
            self.record_usage(usage)  # a duplicate call_id means it was already recorded

    def _settle_late(self, reservation_id: str, scopes: Sequence[str], spent: int) -> None:
        """Settle a reservation that is no longer open (expired, released, or never stored)."""
        closed = {"state": "settled", "actual": spent, "closed_at": datetime.now(UTC)}
        won = self._reservations.find_one_and_update(
            {"_id": reservation_id, "state": {"$in": list(_LATE)}}, {"$set": closed}
        )
        if won is None:
            marker = {"_id": reservation_id, "scopes": list(scopes), "held": [], "amount": 0}
            try:
                self._reservations.insert_one({**marker, **closed})
            except DuplicateKeyError:
                return  # already settled
        for scope in dict.fromkeys(scopes):
            self._ensure_counter(scope)
            self._budget.update_one({"_id": scope}, {"$inc": {"spent": spent}})

    def release(self, reservation_id: str) -> None:
        self._close(str(reservation_id), "released")

    def expire_reservations(self, now: datetime) -> int:
        expired = 0
        while self._close(None, "expired", now=now) is not None:
            expired += 1
        return expired

    def _close(
        self,
        reservation_id: str | None,
        state: str,
        scopes: Sequence[str] = (),
        spent: int = 0,
        *,
        now: datetime | None = None,
    ) -> dict[str, Any] | None:
        """Win the open -> ``state`` move, then take the held amount off each held scope (and
        add ``spent`` to each of ``scopes``). None when there was no such open reservation."""
        query: dict[str, Any] = {"state": "open"}
        if reservation_id is not None:
            query["_id"] = reservation_id
        if now is not None:
            query["lease_until"] = {"$lt": now}  # held while lease_until >= now
        closed = {"state": state, "actual": spent, "closed_at": datetime.now(UTC)}
        doc = self._reservations.find_one_and_update(
            query, {"$set": closed}, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            return None
        held = doc.get("held", [])
        for scope in dict.fromkeys([*held, *scopes]):
            inc = {"reserved": -doc["amount"] if scope in held else 0}
            if scope in scopes:
                inc["spent"] = spent
            self._ensure_counter(scope)
            self._budget.update_one({"_id": scope}, {"$inc": inc})
        return doc

    def _ensure_counter(self, scope: str) -> None:
        try:
            zero = {"spent": Int64(0), "reserved": Int64(0)}
            self._budget.update_one({"_id": scope}, {"$setOnInsert": zero}, upsert=True)
        except DuplicateKeyError:
            return  # a concurrent upsert created it

    def scope_states(self, scopes: Sequence[str], now: datetime) -> dict[str, ScopeCounters]:
        """Spent from the counters; reserved summed over unexpired open reservations."""
        keys = [str(s) for s in scopes]
        spent = {d["_id"]: d["spent"] for d in self._budget.find({"_id": {"$in": keys}})}
        live = {"state": "open", "lease_until": {"$gte": now}, "held": {"$in": keys}}
        rows = self._reservations.aggregate(
            [
                {"$match": live},
                {"$unwind": "$held"},
                {"$match": {"held": {"$in": keys}}},
                {"$group": {"_id": "$held", "amount": {"$sum": "$amount"}}},
            ]
        )
        reserved = {row["_id"]: row["amount"] for row in rows}
        return {
            s: ScopeCounters(
                scope=s, spent=from_nanos(spent.get(s, 0)), reserved=from_nanos(reserved.get(s, 0))
            )
            for s in keys
        }

    def open_reservations(self, now: datetime) -> int:
        return self._reservations.count_documents({"state": "open", "lease_until": {"$gte": now}})
