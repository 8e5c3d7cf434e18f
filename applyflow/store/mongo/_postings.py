"""Postings into the MongoDB store: a new job, another source of a known job, or a changed
posting (requeued or noted).

A job document keeps its postings in ``sources`` (indexed on ``sources.posting_id``) and its
status history in ``history``. Every step is one conditional single-document write filtered on
what was read (the source's old content hash and the job's status; no such source yet), so two
processes storing the same posting never both apply it; a lost race reads again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from applyflow.errors import StoreError
from applyflow.matching import match_key
from applyflow.models import JobPosting, Status, StatusChange
from applyflow.store.jobs import Upserted, UpsertOutcome, on_posting_change
from applyflow.store.mongo._codec import utc
from applyflow.store.mongo.indexes import order

_ATTEMPTS = 50


def history_doc(change: StatusChange) -> dict[str, Any]:
    return {
        "at": change.at,
        "recorded_at": change.recorded_at,
        "status": change.status.value,
        "previous": change.previous.value if change.previous else None,
        "note": change.note,
    }


def content_fields(posting: JobPosting) -> dict[str, Any]:
    """The fields a job takes from its latest posting (``source``/``external_id`` stay)."""
    return {
        "url": posting.url,
        "apply_url": posting.apply_url,
        "title": posting.title,
        "company": posting.company,
        "location": posting.location,
        "description": posting.description,
        "posted_at": utc(posting.posted_at),
        "remote_policy": posting.remote_policy.value if posting.remote_policy else None,
        "compensation": posting.compensation,
        "content_hash": posting.content_hash(),
        "match_key": posting.match_key,
    }


def source_doc(posting: JobPosting, now: datetime) -> dict[str, Any]:
    return {
        "posting_id": posting.id,
        "source": posting.source,
        "external_id": posting.external_id,
        "url": posting.url,
        "apply_url": posting.apply_url,
        "content_hash": posting.content_hash(),
        "first_seen": now,
        "changed_at": now,
    }


def new_job_doc(posting: JobPosting, now: datetime) -> dict[str, Any]:
    found = StatusChange(
        at=now, recorded_at=now, status=Status.NEW, note=f"found on {posting.source}"
    )
    return {
        "_id": posting.id,
        "source": posting.source,
        "external_id": posting.external_id,
        **content_fields(posting),
        "ingested_at": now,
        "updated_at": now,
        "status": Status.NEW.value,
        "status_changed_at": now,
        "applied_at": None,
        "outputs": {},
        "fit": None,
        "cost_nanos": 0,
        "error": None,
        "claimed_by": None,
        "lease_until": None,
        "run_id": None,
        "sources": [source_doc(posting, now)],
        "history": [history_doc(found)],
    }


def _entry(posting: JobPosting) -> dict[str, Any]:
    """Matches the job's source entry of this posting on this source."""
    return {"$elemMatch": {"posting_id": posting.id, "source": posting.source}}


def _change(
    jobs: Collection, doc: dict[str, Any], posting: JobPosting, now: datetime
) -> UpsertOutcome | None:
    """Apply a changed posting to ``doc``'s job; None when the job changed since it was read."""
    old = next(
        s["content_hash"]
        for s in doc["sources"]
        if s["posting_id"] == posting.id and s["source"] == posting.source
    )
    current = Status(doc["status"])
    outcome, status, note = on_posting_change(current, posting.source)
    fields: dict[str, Any] = {
        **content_fields(posting),
        "updated_at": now,
        "sources.$.external_id": posting.external_id,
        "sources.$.url": posting.url,
        "sources.$.apply_url": posting.apply_url,
        "sources.$.content_hash": posting.content_hash(),
        "sources.$.changed_at": now,
    }
    if status != current:
        # Back to the queue: a worker still holding it loses the claim (its release fails).
        fields.update(status=status.value, status_changed_at=now, error=None)
        fields.update(claimed_by=None, lease_until=None)
    update: dict[str, Any] = {"$set": fields}
    if note:
        change = StatusChange(at=now, recorded_at=now, status=status, previous=current, note=note)
        update["$push"] = {"history": history_doc(change)}
    query = {
        "_id": doc["_id"],
        "status": current.value,
        "sources": {
            "$elemMatch": {"posting_id": posting.id, "source": posting.source, "content_hash": old}
        },
    }
    return outcome if jobs.update_one(query, update).matched_count == 1 else None


def _link(jobs: Collection, job_id: str, posting: JobPosting, now: datetime) -> bool:
    """Add the posting as another source of ``job_id``; False if it is there already."""
    result = jobs.update_one(
        {"_id": job_id, "sources": {"$not": _entry(posting)}},
        {"$push": {"sources": source_doc(posting, now)}},
    )
    return result.matched_count == 1


def upsert_posting(jobs: Collection, posting: JobPosting, now: datetime) -> Upserted:
    """``JobStore.upsert_posting``: read, then one conditional write; again on a lost race."""
    digest = posting.content_hash()
    for _ in range(_ATTEMPTS):
        doc = jobs.find_one({"sources": _entry(posting)}, {"status": 1, "sources": 1})
        if doc is not None:
            entry = next(
                s for s in doc["sources"]
                if s["posting_id"] == posting.id and s["source"] == posting.source
            )  # fmt: skip
            if entry["content_hash"] == digest:
                return Upserted("unchanged", doc["_id"])
            outcome = _change(jobs, doc, posting, now)
            if outcome is not None:
                return Upserted(outcome, doc["_id"])
            continue
        same = jobs.find_one({"sources.posting_id": posting.id}, {"_id": 1}) or jobs.find_one(
            {"match_key": posting.match_key, "sources.source": {"$ne": posting.source}},
            {"_id": 1},
            sort=order("same_posting_elsewhere"),
        )
        if same is not None:
            if _link(jobs, same["_id"], posting, now):
                return Upserted("linked", same["_id"])
            continue
        try:
            jobs.insert_one(new_job_doc(posting, now))
            return Upserted("inserted", posting.id)
        except DuplicateKeyError:
            continue  # stored meanwhile by another process: read it again
    raise StoreError(f"posting {posting.id}: its job kept changing underneath; try again")


def backfill(jobs: Collection) -> int:
    """Jobs stored before sources and history existed: each becomes its own one source (with
    its stored content hash, so re-ingesting it finds it unchanged), gets its match key, and
    its last status change is taken to be its application (or its last update). Found by the
    ``match_key`` index (a missing field matches null); idempotent. Returns how many."""
    done = 0
    for doc in jobs.find({"match_key": None}):
        changed = doc.get("applied_at") if doc["status"] == Status.APPLIED.value else None
        source = {
            "posting_id": doc["_id"],
            "source": doc["source"],
            "external_id": doc.get("external_id"),
            "url": doc.get("url"),
            "apply_url": None,
            "content_hash": doc.get("content_hash", ""),
            "first_seen": doc["ingested_at"],
            "changed_at": doc["updated_at"],
        }
        fields = {
            "match_key": match_key(doc["company"], doc["title"], doc.get("location")),
            "sources": doc.get("sources") or [source],
            "history": doc.get("history") or [],
            "status_changed_at": doc.get("status_changed_at") or changed or doc["updated_at"],
        }
        done += jobs.update_one(
            {"_id": doc["_id"], "match_key": None}, {"$set": fields}
        ).modified_count
    return done
