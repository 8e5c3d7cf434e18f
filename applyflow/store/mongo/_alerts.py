"""Alerts and breaker states in the MongoDB store. Alert dedup is atomic through a per-key
marker document in ``alert_keys``; breakers are one document per provider."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from applyflow.models import Alert, BreakerState, as_utc
from applyflow.store.alerts import AlertStore
from applyflow.store.mongo._client import MongoBase
from applyflow.store.mongo._codec import utc


class MongoAlerts(MongoBase, AlertStore):
    """``AlertStore`` on MongoDB."""

    def record_alert(self, alert: Alert, dedup_s: float) -> bool:
        """A per-key marker moves forward only when older than the window; a marker inside
        the window (or a lost race) shows up as a duplicate key on the upsert."""
        at = as_utc(alert.at)
        try:
            self._alert_keys.find_one_and_update(
                {"_id": alert.key, "last_at": {"$lte": at - timedelta(seconds=dedup_s)}},
                {"$set": {"last_at": at}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        self._alerts.insert_one({**alert.model_dump(), "at": at})
        return True

    def list_alerts(self, limit: int = 50, since: datetime | None = None) -> list[Alert]:
        query = {"at": {"$gte": since}} if since is not None else {}
        order = [("at", DESCENDING), ("_id", DESCENDING)]
        cursor = self._alerts.find(query, {"_id": 0}).sort(order).limit(int(limit))
        return [Alert(**{**doc, "at": as_utc(doc["at"])}) for doc in cursor]

    def alert_counts(self) -> dict[str, int]:
        rows = self._alerts.aggregate([{"$group": {"_id": "$kind", "n": {"$sum": 1}}}])
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
