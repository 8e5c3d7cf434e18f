"""Runs and progress in the MongoDB store. Free-form run ``params``/``summary`` are stored as
JSON text; progress is one document per (run, job, layer), upserted on a unique index."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from applyflow.models import LayerStats, ProgressRecord, Run, RunStatus, RunWait, as_utc
from applyflow.store.mongo._client import MongoBase
from applyflow.store.mongo._codec import utc
from applyflow.store.mongo._rollups import add_progress, progress_delta
from applyflow.store.mongo.indexes import order
from applyflow.store.runs import LAYER_DURATION_BUCKETS, RunStore


def _last_seen(doc: dict[str, Any]) -> tuple[Any, str]:
    return doc.get("heartbeat_at") or doc["started_at"], doc["_id"]


def _wait(doc: dict[str, Any] | None) -> RunWait | None:
    return RunWait(**{**doc, "since": as_utc(doc["since"])}) if doc else None


class MongoRuns(MongoBase, RunStore):
    """``RunStore`` on MongoDB."""

    def save_run(self, run: Run) -> None:
        """Free-form ``params``/``summary`` are stored as JSON text, never as field names."""
        doc = run.model_dump(exclude={"id", "params", "summary"})
        doc["status"] = run.status.value
        plain = run.model_dump(mode="json", include={"params", "summary"})
        doc["params_json"] = json.dumps(plain["params"])
        doc["summary_json"] = json.dumps(plain["summary"])
        self._runs.replace_one({"_id": run.id}, doc, upsert=True)

    def get_run(self, run_id: str) -> Run | None:
        doc = self._runs.find_one({"_id": str(run_id)})
        return self._run(doc) if doc else None

    def list_runs(self, limit: int = 20) -> list[Run]:
        cursor = self._runs.find().sort(order("list_runs"))
        return [self._run(doc) for doc in cursor.limit(int(limit))]

    def touch_run(self, run_id: str, now: datetime) -> bool:
        running = {"_id": str(run_id), "status": RunStatus.RUNNING.value}
        return self._runs.update_one(running, {"$set": {"heartbeat_at": now}}).matched_count == 1

    def set_run_waiting(self, run_id: str, waiting: RunWait | None) -> bool:
        running = {"_id": str(run_id), "status": RunStatus.RUNNING.value}
        value = waiting.model_dump() if waiting else None
        return self._runs.update_one(running, {"$set": {"waiting": value}}).matched_count == 1

    def crash_stale_runs(self, stale_before: datetime) -> list[str]:
        """Each stale run is marked by a write conditional on the heartbeat it was read with."""
        running = RunStatus.RUNNING.value
        query = {
            "status": running,
            "$or": [
                {"heartbeat_at": {"$lt": stale_before}},
                {"heartbeat_at": None, "started_at": {"$lt": stale_before}},
            ],
        }
        crashed = []
        found = self._runs.find(query, {"heartbeat_at": 1, "started_at": 1})
        for doc in sorted(found, key=_last_seen):
            last = doc.get("heartbeat_at")
            ended = {"status": RunStatus.CRASHED.value, "ended_at": last or doc["started_at"]}
            still = {"_id": doc["_id"], "status": running, "heartbeat_at": last}
            if self._runs.update_one(still, {"$set": ended}).matched_count:
                crashed.append(doc["_id"])
        return crashed

    @staticmethod
    def _run(doc: dict[str, Any]) -> Run:
        return Run(
            id=doc["_id"],
            flow_run_id=doc.get("flow_run_id"),
            flow_run_name=doc.get("flow_run_name"),
            started_at=as_utc(doc["started_at"]),
            ended_at=utc(doc.get("ended_at")),
            heartbeat_at=utc(doc.get("heartbeat_at")),
            status=doc["status"],
            model=doc.get("model", "offline"),
            dry_run=doc.get("dry_run", False),
            params=json.loads(doc["params_json"]),
            summary=json.loads(doc["summary_json"]),
            waiting=_wait(doc.get("waiting")),
            guards=doc.get("guards") or {},
            profile=doc.get("profile"),
        )

    def record_progress(self, record: ProgressRecord) -> None:
        """Upsert the (run, job, layer) row, then move its share of the layer's rollup from
        the row it replaced (returned by the same atomic write) to the new one."""
        key = {"run_id": record.run_id, "job_id": record.job_id, "layer": record.layer}
        doc = record.model_dump()
        doc["status"] = record.status.value
        for attempt in range(2):
            try:
                old = self._progress.find_one_and_update(
                    key,
                    {"$set": doc},
                    {"status": 1, "duration_s": 1},
                    upsert=True,
                    return_document=ReturnDocument.BEFORE,
                )
                break
            except DuplicateKeyError:  # two first upserts of one key raced; now it exists
                if attempt:
                    raise
        add_progress(self._db, record.layer, progress_delta(old, doc))

    def list_progress(self, run_id: str) -> list[ProgressRecord]:
        cursor = self._progress.find({"run_id": str(run_id)}, {"_id": 0}).sort(
            [("job_id", ASCENDING), ("started_at", ASCENDING), ("layer", ASCENDING)]
        )
        out = []
        for doc in cursor:
            for key in ("started_at", "ended_at", "updated_at"):
                doc[key] = utc(doc.get(key))
            out.append(ProgressRecord(**doc))
        return out

    def layer_stats(self) -> list[LayerStats]:
        size = len(LAYER_DURATION_BUCKETS) + 1
        return [
            LayerStats(
                layer=doc["_id"],
                buckets=[doc.get(f"b{i}", 0) for i in range(size)],
                seconds=doc.get("micros", 0) / 1_000_000,
                failures=doc.get("failures", 0),
            )
            for doc in self._layer_stats.find().sort("_id", ASCENDING)
        ]
