"""Alerts and breaker states in the MongoDB store; breakers are one document per provider.

Alert dedup without losing an alert: one atomic write on the key's marker in ``alert_keys``
moves its ``last_at`` (only when older than the window) and pushes the whole alert onto the
marker's ``pending`` list; the alert is then inserted under its own ``_id`` and pulled from
``pending``. A process that dies between those writes leaves the alert pending, and the next
``list_alerts`` inserts it (the ``_id`` makes that idempotent), so it is shown once and later
alerts of the key are deduplicated against it, as they should be.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from applyflow.models import Alert, BreakerState, as_utc
from applyflow.store.alerts import AlertStore
from applyflow.store.mongo._client import MongoBase
from applyflow.store.mongo._codec import utc
from applyflow.store.mongo.indexes import order

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MongoAlerts(MongoBase, AlertStore):
    """``AlertStore`` on MongoDB."""

    def record_alert(self, alert: Alert, dedup_s: float) -> bool:
        """The marker moves only when older than the window; a marker inside the window (or
        a lost race) shows up as a duplicate key on the upsert."""
        at = as_utc(alert.at)
        doc = {"_id": ObjectId(), **alert.model_dump(), "at": at}
        try:
            self._alert_keys.find_one_and_update(
                {"_id": alert.key, "last_at": {"$lte": at - timedelta(seconds=dedup_s)}},
                {"$set": {"last_at": at}, "$push": {"pending": doc}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        self._store_pending(alert.key, doc)
        return True

    def _store_pending(self, key: str, doc: dict) -> None:
        with contextlib.suppress(DuplicateKeyError):  # inserted already (a retry, a reader)
            self._alerts.insert_one(dict(doc))
        self._alert_keys.update_one({"_id": key}, {"$pull": {"pending": {"_id": doc["_id"]}}})

    def _flush_pending(self) -> None:
        """Store the alerts a process that died mid-record left on their markers."""
        for marker in self._alert_keys.find({"pending.at": {"$gte": _EPOCH}}):
            for doc in marker.get("pending", []):
                self._store_pending(marker["_id"], doc)

    def list_alerts(self, limit: int = 50, since: datetime | None = None) -> list[Alert]:
        self._flush_pending()
        query = {"at": {"$gte": since}} if since is not None else {}
        cursor = self._alerts.find(query, {"_id": 0}).sort(order("list_alerts")).limit(int(limit))
        return [Alert(**{**doc, "at": as_utc(doc["at"])}) for doc in cursor]

    def alert_counts(self) -> dict[str, int]:
        self._flush_pending()
        by_kind = [{"$sort": dict(order("alerts_by_kind"))}]  # over the kind index
        rows = self._alerts.aggregate([*by_kind, {"$group": {"_id": "$kind", "n": {"$sum": 1}}}])
        return {row["_id"]: row["n"] for row in sorted(rows, key=lambda r: r["_id"])}

    def save_breaker_state(self, state: BreakerState) -> None:
        doc = state.model_dump(exclude={"provider"})
        self._breakers.replace_one({"_id": state.provider}, doc, upsert=True)

    def breaker_states(self) -> list[BreakerState]:
        out = []
        for doc in self._breakers.find().sort("_id", ASCENDING):
            doc["opened_at"] = utc(doc.get("opened_at"))
            doc["updated_at"] = as_utc(doc["updated_at"])
            out.append(BreakerState(provider=doc.pop("_id"), **doc))
        return out
