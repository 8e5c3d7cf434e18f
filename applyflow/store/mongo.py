"""MongoDB store: pymongo, written for a real server and tested on mongomock.

Atomicity without multi-document transactions: each change that must happen once is a
single-document conditional write (``find_one_and_update`` filtered on the state it read).
"now" always comes from Python; stats are ``count_documents`` and aggregation pipelines over
indexed fields. Money side (usage, spend, budget): ``applyflow.store._mongo_spend``.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pymongo
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

from applyflow.errors import JobNotFound, StoreError
from applyflow.models import (
    Alert,
    ApplicationStats,
    BreakerState,
    Job,
    JobPosting,
    LayerOutput,
    ProgressRecord,
    Run,
    Status,
    WeekCount,
    applied_at_after,
    as_utc,
    check_transition,
)
from applyflow.periods import local_midnight, week_starts
from applyflow.settings import mask_url
from applyflow.store._mongo_codec import (
    bucket_facets,
    bucket_rows,
    database_name,
    job_from_doc,
    literal,
    masked,
    nanos,
    next_local_midnight,
    output_doc,
    safe_key,
    utc,
)
from applyflow.store._mongo_spend import CLOSED_RESERVATION_TTL_S, MongoSpend
from applyflow.store.base import Store, UpsertOutcome

__all__ = ["MongoStore"]

_POSTING_FIELDS = ("source", "external_id", "url", "title", "company", "location", "description")
_SET_STATUS_ATTEMPTS = 50


class MongoStore(MongoSpend, Store):
    """The store on MongoDB (``mongodb://`` / ``mongodb+srv://``); database from the URL path.

    ``client`` lets tests pass ``mongomock.MongoClient()``; ``drop_on_close`` drops the
    database on ``close`` (throwaway test databases on a real server).
    """

    def __init__(
        self,
        url: str,
        *,
        client: pymongo.MongoClient | None = None,
        drop_on_close: bool = False,
    ) -> None:
        self.url = url
        self._drop_on_close = drop_on_close
        self._owns_client = client is None
        options = {key.lower() for key in parse_qs(urlsplit(url).query)}
        try:
            name = database_name(url)
            if client is None:
                kwargs: dict[str, Any] = {"tz_aware": True, "uuidRepresentation": "standard"}
                if "serverselectiontimeoutms" not in options:  # an explicit URI option wins
                    kwargs["serverSelectionTimeoutMS"] = 5000
                client = pymongo.MongoClient(url, **kwargs)
            self._client = client
            db = client[name]
            self._create_indexes(db)
        except PyMongoError as exc:
            if self._owns_client and client is not None:
                client.close()
            # pymongo appends a long topology dump to selection timeouts; the first part says it.
            reason = masked(url, exc).split(", Topology Description:", 1)[0]
            raise StoreError(f"cannot open MongoDB store at {mask_url(url)}: {reason}") from None
        self._db = db
        self._jobs, self._progress, self._runs = db.jobs, db.progress, db.runs
        self._usage, self._budget, self._reservations = db.usage, db.budget, db.reservations
        self._alerts, self._alert_keys, self._breakers = db.alerts, db.alert_keys, db.breakers

    @staticmethod
    def _create_indexes(db: Any) -> None:
        # (status, ingested_at) serves status filters and the oldest-first claim order.
        db.jobs.create_index([("status", ASCENDING), ("ingested_at", ASCENDING)])
        for field in ("applied_at", "updated_at", "company"):
            db.jobs.create_index(field)
        db.usage.create_index("call_id", unique=True)
        for field in ("at", "provider", "model", "layer", "job_id", "run_id"):
            db.usage.create_index(field)
        db.progress.create_index(
            [("run_id", ASCENDING), ("job_id", ASCENDING), ("layer", ASCENDING)], unique=True
        )
        db.runs.create_index([("started_at", DESCENDING)])
        db.reservations.create_index([("state", ASCENDING), ("lease_until", ASCENDING)])
        db.reservations.create_index("closed_at", expireAfterSeconds=CLOSED_RESERVATION_TTL_S)
        db.alerts.create_index([("key", ASCENDING), ("at", DESCENDING)])
        db.alerts.create_index([("at", DESCENDING)])

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Drop the database when asked to (test runs), then release the connection."""
        try:
            if self._drop_on_close:
                self._client.drop_database(self._db.name)
        finally:
            if self._owns_client:
                self._client.close()

    def ping(self) -> float:
        """Round-trip of the ``ping`` command in milliseconds."""
        start = time.perf_counter()
        self._db.command("ping")
        return (time.perf_counter() - start) * 1000

    # --- jobs ------------------------------------------------------------------------------
    def upsert_job(self, posting: JobPosting, now: datetime) -> UpsertOutcome:
        """Insert by fingerprint; update posting fields only when the content hash changed."""
        fields: dict[str, Any] = {name: getattr(posting, name) for name in _POSTING_FIELDS}
        fields["posted_at"] = utc(posting.posted_at)
        fields["content_hash"] = posting.content_hash()
        pipeline_state = {
            "status": Status.NEW.value,
            "applied_at": None,
            "outputs": {},
            "fit": None,
            "cost_nanos": 0,
            "error": None,
            "claimed_by": None,
            "lease_until": None,
            "run_id": None,
        }
        doc = {"_id": posting.id, **fields, "ingested_at": now, "updated_at": now}
        try:
            self._jobs.insert_one({**doc, **pipeline_state})
            return "inserted"
        except DuplicateKeyError:
            pass
        result = self._jobs.update_one(
            {"_id": posting.id, "content_hash": {"$ne": fields["content_hash"]}},
            {"$set": {**fields, "updated_at": now}},
        )
        return "updated" if result.modified_count else "unchanged"

    def get_job(self, job_id: str) -> Job:
        doc = self._jobs.find_one({"_id": str(job_id)})
        if doc is None:
            raise JobNotFound(job_id)
        return job_from_doc(doc)

    def list_jobs(
        self,
        *,
        status: Status | Sequence[Status] | None = None,
        company: str | None = None,
        min_fit: int | None = None,
        text: str | None = None,
        limit: int = 500,
    ) -> list[Job]:
        """Newest-updated first; ``company`` and ``text`` are matched as literal text."""
        query: dict[str, Any] = {}
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            query["status"] = {"$in": [Status(s).value for s in wanted]}
        if company:
            query["company"] = literal(company)
        if min_fit is not None:
            query["fit"] = {"$gte": int(min_fit)}
        if text:
            query["$or"] = [{field: literal(text)} for field in ("title", "company", "description")]
        cursor = self._jobs.find(query).sort([("updated_at", DESCENDING), ("_id", ASCENDING)])
        return [job_from_doc(doc) for doc in cursor.limit(int(limit))]

    def claim_jobs(
        self,
        n: int,
        worker: str,
        lease_s: float,
        now: datetime,
        *,
        run_id: str | None = None,
        job_ids: Sequence[str] | None = None,
        statuses: Sequence[Status] = (Status.NEW,),
    ) -> list[Job]:
        """One atomic ``find_one_and_update`` per job: its filter re-checks status and lease."""
        query: dict[str, Any] = {
            "$or": [
                {"status": {"$in": [Status(s).value for s in statuses]}},
                {"status": Status.PROCESSING.value, "lease_until": {"$lt": now}},
            ]
        }
        if job_ids is not None:
            query["_id"] = {"$in": [str(j) for j in job_ids]}
        claim: dict[str, Any] = {
            "status": Status.PROCESSING.value,
            "claimed_by": str(worker),
            "lease_until": now + timedelta(seconds=lease_s),
            "updated_at": now,
        }
        if run_id is not None:
            claim["run_id"] = str(run_id)
        claimed: list[Job] = []
        while len(claimed) < n:
            doc = self._jobs.find_one_and_update(
                query,
                {"$set": claim},
                sort=[("ingested_at", ASCENDING), ("_id", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:
                break
            claimed.append(job_from_doc(doc))
        return claimed

    def renew_lease(self, job_id: str, worker: str, lease_s: float, now: datetime) -> bool:
        job_id, worker = str(job_id), str(worker)  # ids are values, never query documents
        result = self._jobs.update_one(
            {"_id": job_id, "status": Status.PROCESSING.value, "claimed_by": worker},
            {"$set": {"lease_until": now + timedelta(seconds=lease_s)}},
        )
        return result.matched_count == 1

    def release_job(
        self,
        job_id: str,
        worker: str,
        status: Status,
        now: datetime,
        *,
        error: str | None = None,
    ) -> bool:
        """End the claim only while ``worker`` still holds the job (a user's change wins)."""
        job_id, worker = str(job_id), str(worker)
        check_transition(job_id, Status.PROCESSING, status)
        ended = {
            "status": Status(status).value,
            "error": error,
            "claimed_by": None,
            "lease_until": None,
            "updated_at": now,
        }
        result = self._jobs.update_one(
            {"_id": job_id, "status": Status.PROCESSING.value, "claimed_by": worker},
            {"$set": ended},
        )
        return result.matched_count == 1

    def save_layer_output(
        self, job_id: str, layer: str, output: LayerOutput, *, fit: int | None = None
    ) -> None:
        """Field-level ``$set`` of ``outputs.<layer>`` (and ``fit``); ``$inc`` of the cost."""
        job_id = str(job_id)
        fields: dict[str, Any] = {f"outputs.{safe_key('layer', layer)}": output_doc(output)}
        if fit is not None:
            fields["fit"] = int(fit)
        result = self._jobs.update_one(
            {"_id": job_id}, {"$set": fields, "$inc": {"cost_nanos": nanos(output.cost_usd)}}
        )
        if result.matched_count == 0:
            raise JobNotFound(job_id)

    def set_status(
        self, job_id: str, status: Status, now: datetime, *, error: str | None = None
    ) -> Job:
        """Compare-and-set on the (status, applied_at) read; retried if it changed meanwhile."""
        job_id, target = str(job_id), Status(status)
        for _ in range(_SET_STATUS_ATTEMPTS):
            doc = self._jobs.find_one({"_id": job_id}, {"status": 1, "applied_at": 1})
            if doc is None:
                raise JobNotFound(job_id)
            current = Status(doc["status"])
            check_transition(job_id, current, target)
            applied_at = applied_at_after(current, target, utc(doc.get("applied_at")), now)
            fields: dict[str, Any] = {
                "status": target.value,
                "applied_at": applied_at,
                "updated_at": now,
                "error": error,
            }
            if target != Status.PROCESSING:  # leaving processing ends the claim
                fields.update(claimed_by=None, lease_until=None)
            result = self._jobs.update_one(
                {"_id": job_id, "status": current.value, "applied_at": doc.get("applied_at")},
                {"$set": fields},
            )
            if result.matched_count == 1:
                return self.get_job(job_id)
        raise StoreError(f"job {job_id}: its status kept changing underneath; try again")

    def status_counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for row in self._jobs.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
            counts[row["_id"]] = row["n"]
        return counts

    # --- runs and progress -----------------------------------------------------------------
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
        cursor = self._runs.find().sort([("started_at", DESCENDING), ("_id", ASCENDING)])
        return [self._run(doc) for doc in cursor.limit(int(limit))]

    @staticmethod
    def _run(doc: dict[str, Any]) -> Run:
        return Run(
            id=doc["_id"],
            flow_run_id=doc.get("flow_run_id"),
            started_at=as_utc(doc["started_at"]),
            ended_at=utc(doc.get("ended_at")),
            status=doc["status"],
            model=doc.get("model", "offline"),
            params=json.loads(doc["params_json"]),
            summary=json.loads(doc["summary_json"]),
        )

    def record_progress(self, record: ProgressRecord) -> None:
        """Upsert the (run, job, layer) row."""
        key = {"run_id": record.run_id, "job_id": record.job_id, "layer": record.layer}
        doc = record.model_dump()
        doc["status"] = record.status.value
        for attempt in range(2):
            try:
                self._progress.update_one(key, {"$set": doc}, upsert=True)
                return
            except DuplicateKeyError:  # two first upserts of one key raced; now it exists
                if attempt:
                    raise

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

    # --- alerts and breakers ---------------------------------------------------------------
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

    # --- application stats -----------------------------------------------------------------
    def application_stats(self, now: datetime, tz: ZoneInfo) -> ApplicationStats:
        """Four ``count_documents`` over the ``applied_at`` index; windows ``[bound, now]``."""

        def applied_since(start: datetime) -> int:
            return self._jobs.count_documents({"applied_at": {"$gte": start, "$lte": now}})

        return ApplicationStats(
            today=applied_since(local_midnight(now, tz)),
            week=applied_since(now - timedelta(days=7)),
            month=applied_since(now - timedelta(days=30)),
            total=self._jobs.count_documents({"applied_at": {"$type": "date"}}),
        )

    def weekly_applications(self, now: datetime, tz: ZoneInfo, weeks: int = 12) -> list[WeekCount]:
        """Local Monday bounds from Python; the database counts each week (``$facet``)."""
        starts = week_starts(now, tz, weeks)
        if not starts:
            return []
        end = next_local_midnight(starts[-1], tz, days=7)
        pipeline = bucket_facets("applied_at", [*starts, end], {"count": {"$sum": 1}})
        rows = bucket_rows(list(self._jobs.aggregate(pipeline)), len(starts))
        return [
            WeekCount(week_start=start, count=row.get("count", 0))
            for start, row in zip(starts, rows, strict=True)
        ]


def _connection_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a lost server into ``StoreError`` naming the URL with its password masked."""

    @functools.wraps(method)
    def wrapper(self: MongoStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ConnectionFailure as exc:
            raise StoreError(
                f"MongoDB store at {mask_url(self.url)} is unreachable: {masked(self.url, exc)}"
            ) from None

    return wrapper


# Every operation of the contract gets the same translation.
for _name in sorted(Store.__abstractmethods__ | {"upsert_jobs"}):
    setattr(MongoStore, _name, _connection_errors(getattr(MongoStore, _name)))
