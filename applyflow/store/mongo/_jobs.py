"""Jobs in the MongoDB store: one document per job (``_id`` = its first posting's fingerprint),
with its postings (``sources``) and status history (``history``) inside; postings in are
``_postings``.

Claims and status changes are single-document conditional writes: ``find_one_and_update`` /
``update_one`` filtered on the state they read, so two workers never both win. Layer outputs
are stored as JSON text, so keys a model writes never become field names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument

from applyflow.errors import JobNotFound, StoreError
from applyflow.models import (
    FOLLOWUP_STATUSES,
    Job,
    JobPosting,
    LayerOutput,
    Status,
    StatusChange,
    applied_at_after,
    as_utc,
    check_transition,
)
from applyflow.money import from_nanos
from applyflow.store.jobs import (
    HELD_STATUSES,
    JobStore,
    Upserted,
    check_change_at,
    check_note,
    check_search_text,
)
from applyflow.store.mongo._client import MongoBase
from applyflow.store.mongo._codec import literal, nanos, safe_key, utc
from applyflow.store.mongo._postings import history_doc, upsert_posting
from applyflow.store.mongo.indexes import claim_query, order

_SET_STATUS_ATTEMPTS = 50


def output_doc(output: LayerOutput) -> dict[str, Any]:
    """A layer output as stored: the model-written dict as JSON text, so its keys never
    become field names (they may hold `$` or `.`)."""
    return {
        "output_json": json.dumps(output.model_dump(mode="json")["output"]),
        "input_hash": output.input_hash,
        "model": output.model,
        "cost_usd": output.cost_usd,
        "at": as_utc(output.at),
        "profile": output.profile.model_dump() if output.profile else None,
    }


def job_from_doc(doc: dict[str, Any]) -> Job:
    outputs = {
        layer: LayerOutput(
            output=json.loads(stored["output_json"]),
            input_hash=stored["input_hash"],
            model=stored["model"],
            cost_usd=stored.get("cost_usd", 0.0),
            at=as_utc(stored["at"]),
            profile=stored.get("profile"),
        )
        for layer, stored in (doc.get("outputs") or {}).items()
    }
    fields = {k: v for k, v in doc.items() if k not in ("_id", "outputs", "cost_nanos")}
    for key in (
        "posted_at", "ingested_at", "updated_at", "applied_at", "lease_until", "status_changed_at"
    ):  # fmt: skip
        fields[key] = utc(fields.get(key))
    fields["cost_usd"] = from_nanos(doc.get("cost_nanos", 0))
    return Job(id=doc["_id"], outputs=outputs, **fields)


class MongoJobs(MongoBase, JobStore):
    """``JobStore`` on MongoDB."""

    def upsert_posting(self, posting: JobPosting, now: datetime) -> Upserted:
        return upsert_posting(self._jobs, posting, now)

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
        check_search_text("company", company)
        check_search_text("text", text)
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
        cursor = self._jobs.find(query).sort(order("list_jobs"))
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
        """One atomic ``find_one_and_update`` per job: its filter re-checks status and lease.

        Held statuses (``HELD_STATUSES``) are claimed first, by their own filter (no live
        claim) and without a status change; then the queue's claim order.
        """
        wanted = [Status(s) for s in statuses]
        held = [s.value for s in wanted if s in HELD_STATUSES]
        claim: dict[str, Any] = {
            "claimed_by": str(worker),
            "lease_until": now + timedelta(seconds=lease_s),
            "updated_at": now,
        }
        if run_id is not None:
            claim["run_id"] = str(run_id)
        claimed: list[Job] = []
        if held:
            free = [{"claimed_by": None}, {"lease_until": {"$lt": now}}]
            query: dict[str, Any] = {"status": {"$in": held}, "$or": free}
            if job_ids is not None:
                query["_id"] = {"$in": [str(j) for j in job_ids]}
            claimed += self._claim_each(n, query, claim, order("claim_jobs"))
        queue = claim_query([s for s in wanted if s not in HELD_STATUSES], now, job_ids)
        processing = {**claim, "status": Status.PROCESSING.value}
        claimed += self._claim_each(n - len(claimed), queue, processing, order("claim_jobs"))
        return claimed

    def _claim_each(
        self, n: int, query: dict[str, Any], claim: dict[str, Any], sort: list[tuple[str, int]]
    ) -> list[Job]:
        claimed: list[Job] = []
        while len(claimed) < n:
            doc = self._jobs.find_one_and_update(
                query, {"$set": claim}, sort=sort, return_document=ReturnDocument.AFTER
            )
            if doc is None:
                break
            claimed.append(job_from_doc(doc))
        return claimed

    def renew_lease(self, job_id: str, worker: str, lease_s: float, now: datetime) -> bool:
        job_id, worker = str(job_id), str(worker)  # ids are values, never query documents
        holding = [Status.PROCESSING.value, *(s.value for s in HELD_STATUSES)]
        result = self._jobs.update_one(
            {"_id": job_id, "status": {"$in": holding}, "claimed_by": worker},
            {"$set": {"lease_until": now + timedelta(seconds=lease_s)}},
        )
        return result.matched_count == 1

    def list_followups(self, before: datetime, *, limit: int = 100) -> list[Job]:
        query = {
            "status": {"$in": [s.value for s in FOLLOWUP_STATUSES]},
            "status_changed_at": {"$lte": before},
        }
        cursor = self._jobs.find(query).sort(order("list_followups"))
        return [job_from_doc(doc) for doc in cursor.limit(int(limit))]

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
        job_id, worker, target = str(job_id), str(worker), Status(status)
        if target in HELD_STATUSES:  # its status stays; only the claim ends
            result = self._jobs.update_one(
                {"_id": job_id, "status": target.value, "claimed_by": worker},
                {"$set": {"claimed_by": None, "lease_until": None, "error": error,
                          "updated_at": now}},
            )  # fmt: skip
            return result.matched_count == 1
        check_transition(job_id, Status.PROCESSING, target)
        ended = {
            "status": target.value,
            "error": error,
            "claimed_by": None,
            "lease_until": None,
            "updated_at": now,
            "status_changed_at": now,
        }
        change = StatusChange(at=now, recorded_at=now, status=target, previous=Status.PROCESSING)
        result = self._jobs.update_one(
            {"_id": job_id, "status": Status.PROCESSING.value, "claimed_by": worker},
            {"$set": ended, "$push": {"history": history_doc(change)}},
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
        self,
        job_id: str,
        status: Status,
        now: datetime,
        *,
        error: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Job:
        """Compare-and-set on the (status, applied_at) read; retried if it changed meanwhile."""
        job_id, target = str(job_id), Status(status)
        check_note(note)
        when = now if at is None else at
        for _ in range(_SET_STATUS_ATTEMPTS):
            doc = self._jobs.find_one({"_id": job_id}, {"status": 1, "applied_at": 1})
            if doc is None:
                raise JobNotFound(job_id)
            current, stamped = Status(doc["status"]), utc(doc.get("applied_at"))
            check_transition(job_id, current, target)
            if at is not None:
                check_change_at(job_id, target, at, now, stamped)
            applied_at = applied_at_after(current, target, stamped, when, backdated=at is not None)
            fields: dict[str, Any] = {
                "status": target.value,
                "applied_at": applied_at,
                "updated_at": now,
                "error": error,
            }
            if target != Status.PROCESSING:  # leaving processing ends the claim
                fields.update(claimed_by=None, lease_until=None)
            update: dict[str, Any] = {"$set": fields}
            if target != current or note is not None or at is not None:
                fields["status_changed_at"] = when
                entry = StatusChange(
                    at=when, recorded_at=now, status=target, previous=current, note=note
                )
                update["$push"] = {"history": history_doc(entry)}
            result = self._jobs.update_one(
                {"_id": job_id, "status": current.value, "applied_at": doc.get("applied_at")},
                update,
            )
            if result.matched_count == 1:
                return self.get_job(job_id)
        raise StoreError(f"job {job_id}: its status kept changing underneath; try again")
