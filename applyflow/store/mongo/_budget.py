"""Budget counters and reservations on MongoDB, without multi-document transactions.

Every step is one conditional single-document write that can be repeated (by a retry, or by
the sweep finishing a dead process's work) without counting anything twice:

- A **counter** per scope: ``{_id: scope, spent, reserved, holds: [{r, n, until}],
  applied: [{r, at}]}`` in integer nano-dollars. A reservation ``r`` raises ``reserved`` by
  ``n`` and pushes its hold in the same write, filtered on the cap and on not holding yet.
  Settling pulls the hold, lowers ``reserved`` and adds the spend in one write filtered on the
  hold, leaving an ``applied`` marker; a settle that finds no hold (it expired, or was never
  taken) adds the spend in one write filtered on there being no marker. Releasing or expiring
  pulls the hold, filtered on it.
- A **reservation** ``{_id, state, scopes, amount, lease_until}`` moves ``open -> settling ->
  settled`` or ``open -> released | expired``. ``settling`` records what to apply (the
  spend, its scopes, the usage row) before any counter is touched, with a step lease.

The sweep (``expire_reservations``, run before every reservation) expires open reservations
past their lease, finishes settles whose step lease has passed, pulls every hold past its lease
from the counters (whatever became of its reservation), then drops ``applied`` markers whose
settle step is over. So a process killed between any two writes leaves counters that the next
sweep makes exact, and what ``scope_states`` shows is what ``reserve`` checks.

One assumption: a settle that stalls for longer than its step lease (``SETTLE_STEP_S``) and
then resumes, after a sweep finished it, can count its spend twice on a scope (never less).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson.int64 import Int64
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from applyflow.errors import BudgetExceeded, ScopeOverrun, StoreError
from applyflow.models import ScopeCounters, UsageRecord, as_utc
from applyflow.money import from_nanos
from applyflow.store.ledger import check_amount, reservation_in_use
from applyflow.store.mongo._client import MongoBase
from applyflow.store.mongo._codec import nanos
from applyflow.store.mongo._rollups import add_usage, usage_inc, usage_key

SETTLE_STEP_S = 60.0  # a settle still unfinished this long after it began is the sweep's
_SETTLEABLE = ("open", "expired", "released")  # a late settle still counts the spend
_REUSABLE = ("expired", "released")
_BEGIN_ATTEMPTS = 5


def usage_doc(record: UsageRecord) -> dict[str, Any]:
    """A usage row as stored: money in int64 nano-dollars, ``at`` aware UTC."""
    doc = record.model_dump(exclude={"cost_usd"})
    doc["cost_nanos"] = nanos(record.cost_usd)
    doc["at"] = as_utc(record.at)
    return doc


class MongoBudget(MongoBase):
    """Reserve, settle, release and expire budget on the scope counters."""

    def _insert_usage(self, doc: dict[str, Any]) -> bool:
        """Append a usage row and count it in its rollup; False when its ``call_id`` is
        recorded already (only the writer whose insert won counts the call)."""
        try:
            self._usage.insert_one(dict(doc))  # a copy: insert_one adds an _id to what it gets
        except DuplicateKeyError:
            return False
        key = usage_key(doc["provider"], doc["model"], doc.get("layer"))
        add_usage(self._db, key, usage_inc(doc))
        return True

    # --- reserve -------------------------------------------------------------------------
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
        """Hold ``amount`` on each scope counter; on a refusal release what was held."""
        check_amount(reservation_id, "amount", amount)
        rid = str(reservation_id)  # ids are values, never query documents
        caps = {str(scope): cap for scope, cap in caps.items()}
        self.expire_reservations(now)
        need = nanos(amount)
        lease = now + timedelta(seconds=lease_s)
        self._open(rid, list(caps), need, lease)
        for scope, cap in caps.items():
            refused = self._hold(rid, scope, cap if enforce else None, need, lease)
            if refused is not None:
                self.release(rid)
                raise BudgetExceeded(
                    ScopeOverrun(
                        scope=scope,
                        cap=float(cap or 0.0),
                        spent=from_nanos(refused.get("spent", 0)),
                        reserved=from_nanos(refused.get("reserved", 0)),
                        needed=amount,
                    )
                )

    def _open(self, rid: str, scopes: list[str], need: Int64, lease: datetime) -> None:
        """Store the open reservation; an id may be reused only once released or expired."""
        doc = {"state": "open", "scopes": scopes, "amount": need, "lease_until": lease}
        try:
            self._reservations.insert_one({"_id": rid, **doc})
            return
        except DuplicateKeyError:
            pass
        old = self._reservations.find_one({"_id": rid, "state": {"$in": list(_REUSABLE)}})
        if old is None:
            raise reservation_in_use(rid)
        for scope in old.get("scopes", []):  # holds a cut-short release left behind
            self._drop_holds(scope, rid=rid)
        if self._reservations.replace_one({"_id": rid, "state": old["state"]}, doc).matched_count:
            return
        raise reservation_in_use(rid)

    def _hold(
        self, rid: str, scope: str, cap: float | None, need: Int64, lease: datetime
    ) -> dict[str, Any] | None:
        """Raise ``scope``'s counter and record the hold in one write. None once held (now or
        by an earlier try); the counter as read when its cap refuses."""
        query: dict[str, Any] = {"_id": scope, "holds.r": {"$ne": rid}}
        if cap is not None:
            query["$expr"] = {"$lte": [{"$add": ["$spent", "$reserved", need]}, nanos(cap)]}
        update = {
            "$inc": {"reserved": need},
            "$push": {"holds": {"r": rid, "n": need, "until": lease}},
        }
        if self._budget.find_one_and_update(query, update) is not None:
            return None
        counter = self._budget.find_one({"_id": scope})
        if counter is None:  # the scope's first reservation
            self._ensure_counter(scope)
            if self._budget.find_one_and_update(query, update) is not None:
                return None
            counter = self._budget.find_one({"_id": scope}) or {}
        if any(hold["r"] == rid for hold in counter.get("holds", [])):
            return None
        return counter

    def _ensure_counter(self, scope: str) -> None:
        zero = {"spent": Int64(0), "reserved": Int64(0), "holds": [], "applied": []}
        try:
            self._budget.update_one({"_id": scope}, {"$setOnInsert": zero}, upsert=True)
        except DuplicateKeyError:
            return  # a concurrent upsert created it

    # --- settle --------------------------------------------------------------------------
    def settle(
        self,
        reservation_id: str,
        scopes: Sequence[str],
        actual: float,
        now: datetime,
        usage: UsageRecord | None = None,
    ) -> None:
        """Record the settle on the reservation first, then apply it to each counter."""
        check_amount(reservation_id, "actual", actual)
        rid = str(reservation_id)
        plan = {
            "state": "settling",
            "actual": nanos(actual),
            "settle_scopes": list(dict.fromkeys(str(s) for s in scopes)),
            "lease_until": now + timedelta(seconds=SETTLE_STEP_S),
            "usage": usage_doc(usage) if usage is not None else None,
        }
        doc = self._begin_settle(rid, plan)
        if doc is not None:
            self._finish_settle(doc)
        elif usage is not None:
            self._insert_usage(usage_doc(usage))  # settled already: the row, once

    def _begin_settle(self, rid: str, plan: dict[str, Any]) -> dict[str, Any] | None:
        """The reservation moved to ``settling`` (or already there: a retry), or None when it
        is settled already. An unknown id gets a reservation that held nothing."""
        for _ in range(_BEGIN_ATTEMPTS):
            doc = self._reservations.find_one_and_update(
                {"_id": rid, "state": {"$in": list(_SETTLEABLE)}},
                {"$set": plan},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return doc
            doc = self._reservations.find_one({"_id": rid})
            if doc is None:
                fresh = {"_id": rid, "scopes": [], "amount": Int64(0), **plan}
                try:
                    self._reservations.insert_one(dict(fresh))
                except DuplicateKeyError:
                    continue  # another settle of the same id stored it first
                return fresh
            if doc["state"] == "settling":
                return doc
            if doc["state"] == "settled":
                return None
        raise StoreError(f"reservation {rid!r}: its state kept changing underneath; try again")

    def _finish_settle(self, doc: dict[str, Any]) -> None:
        """Apply a ``settling`` reservation to every counter, record its usage, close it."""
        rid, amount, actual = doc["_id"], doc["amount"], doc["actual"]
        charged = doc["settle_scopes"]
        marker = {"r": rid, "at": doc["lease_until"]}
        for scope in dict.fromkeys([*doc.get("scopes", []), *charged]):
            spend = actual if scope in charged else Int64(0)
            held = {"_id": scope, "holds.r": rid}
            update: dict[str, Any] = {
                "$inc": {"reserved": -amount, "spent": spend},
                "$pull": {"holds": {"r": rid}},
            }
            if scope in charged:
                update["$push"] = {"applied": marker}
            if self._budget.update_one(held, update).matched_count or scope not in charged:
                continue
            # No hold (it expired, or was never taken): add the spend unless already added.
            unheld = {"_id": scope, "holds.r": {"$ne": rid}, "applied.r": {"$ne": rid}}
            charge = {"$inc": {"spent": spend}, "$push": {"applied": marker}}
            missed = self._budget.update_one(unheld, charge).matched_count == 0
            if missed and self._budget.find_one({"_id": scope}, {"_id": 1}) is None:
                self._ensure_counter(scope)  # the scope's first spend
                self._budget.update_one(unheld, charge)
        if doc.get("usage"):
            self._insert_usage(doc["usage"])
        self._reservations.update_one(
            {"_id": rid, "state": "settling"},
            {"$set": {"state": "settled", "closed_at": datetime.now(UTC)}, "$unset": {"usage": ""}},
        )

    # --- release and expiry --------------------------------------------------------------
    def release(self, reservation_id: str) -> None:
        """Close an open reservation unspent and pull its holds; a retry finishes the pulls."""
        rid = str(reservation_id)
        closed = {"state": "released", "closed_at": datetime.now(UTC)}
        self._reservations.update_one({"_id": rid, "state": "open"}, {"$set": closed})
        doc = self._reservations.find_one({"_id": rid, "state": "released"})
        for scope in doc["scopes"] if doc else ():
            self._budget.update_one(
                {"_id": scope, "holds.r": rid},
                {"$inc": {"reserved": -doc["amount"]}, "$pull": {"holds": {"r": rid}}},
            )

    def expire_reservations(self, now: datetime) -> int:
        """The sweep; how many open reservations it expired."""
        expired = 0
        closed = {"state": "expired", "closed_at": datetime.now(UTC)}
        while self._reservations.find_one_and_update(
            {"state": "open", "lease_until": {"$lt": now}}, {"$set": closed}
        ):
            expired += 1
        stalled = {"state": "settling", "lease_until": {"$lt": now}}
        for doc in self._reservations.find(stalled, {"usage": 0}):
            taken = self._reservations.find_one_and_update(
                {"_id": doc["_id"], "state": "settling", "lease_until": doc["lease_until"]},
                {"$set": {"lease_until": now + timedelta(seconds=SETTLE_STEP_S)}},
                return_document=ReturnDocument.AFTER,
            )
            if taken is not None:  # another sweep did not take it first
                self._finish_settle(taken)
        stale = {"$or": [{"holds.until": {"$lt": now}}, {"applied.at": {"$lt": now}}]}
        for counter in self._budget.find(stale):
            self._drop_holds(counter["_id"], before=now, counter=counter)
            if any(as_utc(m["at"]) < now for m in counter.get("applied", [])):
                self._budget.update_one(
                    {"_id": counter["_id"]}, {"$pull": {"applied": {"at": {"$lt": now}}}}
                )
        return expired

    def _drop_holds(
        self,
        scope: str,
        *,
        rid: str | None = None,
        before: datetime | None = None,
        counter: dict[str, Any] | None = None,
    ) -> None:
        """Pull holds of ``rid`` or past ``before`` from ``scope``'s counter, each filtered on
        itself (so a hold pulled meanwhile, by a settle or another sweep, is never undone twice)."""
        if counter is None:
            counter = self._budget.find_one({"_id": scope}) or {}
        for hold in counter.get("holds", []):
            if (rid is not None and hold["r"] != rid) or (
                before is not None and as_utc(hold["until"]) >= before
            ):
                continue
            this = {"r": hold["r"], "until": hold["until"]}
            self._budget.update_one(
                {"_id": scope, "holds": {"$elemMatch": this}},
                {"$inc": {"reserved": -hold["n"]}, "$pull": {"holds": this}},
            )

    # --- reading -------------------------------------------------------------------------
    def scope_states(self, scopes: Sequence[str], now: datetime) -> dict[str, ScopeCounters]:
        """Spent and the holds still within their lease, from each scope's own counter."""
        keys = [str(s) for s in scopes]
        found = {doc["_id"]: doc for doc in self._budget.find({"_id": {"$in": keys}})}
        states = {}
        for scope in keys:
            doc = found.get(scope, {})
            live = [h["n"] for h in doc.get("holds", []) if as_utc(h["until"]) >= now]
            states[scope] = ScopeCounters(
                scope=scope, spent=from_nanos(doc.get("spent", 0)), reserved=from_nanos(sum(live))
            )
        return states

    def open_reservations(self, now: datetime) -> int:
        return self._reservations.count_documents({"state": "open", "lease_until": {"$gte": now}})
