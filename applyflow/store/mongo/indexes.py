"""Every index of the MongoDB store and the queries each one serves, in one table.

Public on purpose: it is what an operator needs to know about the store's indexes. The code
takes its sort orders from ``QUERIES`` (``order(name)``) and the claim filter from
``claim_query``; ``_client`` creates exactly ``INDEXES``. The tests check the two agree:
structurally on mongomock (each query's index is its equality fields, then its sort, then its
range fields), and with ``explain()`` on a real server (the named index wins, no in-memory SORT,
no collection scan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from applyflow.models import Status

__all__ = [
    "INDEXES",
    "OBSOLETE",
    "QUERIES",
    "Index",
    "Query",
    "claim_query",
    "index_name",
    "order",
]

Keys = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Index:
    collection: str
    keys: Keys
    unique: bool = False
    expire_after_s: int | None = None  # a TTL index


@dataclass(frozen=True)
class Query:
    """One query shape: fields matched by equality (``$in`` included), the sort, the ranges."""

    collection: str
    index: str  # the index (by name) that serves it
    equality: tuple[str, ...] = ()
    sort: Keys = ()
    ranges: tuple[str, ...] = ()


def index_name(keys: Keys) -> str:
    """MongoDB's default index name: ``status_1_ingested_at_1__id_1``."""
    return "_".join(f"{field}_{direction}" for field, direction in keys)


# Closed reservations are kept a week (a late settle stays idempotent), then the server's TTL
# monitor drops them. `closed_at` is wall-clock time because TTL runs on the server's clock.
CLOSED_RESERVATION_TTL_S = 7 * 24 * 3600

_CLAIM: Keys = (("status", ASCENDING), ("ingested_at", ASCENDING), ("_id", ASCENDING))
_NEWEST_UPDATED: Keys = (("updated_at", DESCENDING), ("_id", ASCENDING))
_STATUS_NEWEST: Keys = (("status", ASCENDING), *_NEWEST_UPDATED)
_RUNS_NEWEST: Keys = (("started_at", DESCENDING), ("_id", ASCENDING))
# Cross-source matching (the oldest job first) and follow-ups (the quietest first).
_MATCH: Keys = (("match_key", ASCENDING), ("ingested_at", ASCENDING), ("_id", ASCENDING))
_FOLLOWUPS: Keys = (("status", ASCENDING), ("status_changed_at", ASCENDING), ("_id", ASCENDING))
_ALERTS_NEWEST: Keys = (("at", DESCENDING), ("_id", DESCENDING))
_ALERT_KINDS: Keys = (("kind", ASCENDING),)
_TOTALS: Keys = (("provider", ASCENDING), ("model", ASCENDING), ("layer", ASCENDING))

INDEXES: tuple[Index, ...] = (
    Index("jobs", _CLAIM),
    Index("jobs", _NEWEST_UPDATED),
    Index("jobs", _STATUS_NEWEST),
    Index("jobs", (("applied_at", ASCENDING),)),
    Index("jobs", (("sources.posting_id", ASCENDING),)),
    Index("jobs", _MATCH),
    Index("jobs", _FOLLOWUPS),
    Index("usage", (("call_id", ASCENDING),), unique=True),
    Index("usage", (("at", ASCENDING),)),
    Index("usage", (("run_id", ASCENDING),)),
    Index("usage", (("job_id", ASCENDING),)),
    Index("progress", (("run_id", ASCENDING), ("job_id", ASCENDING), ("layer", ASCENDING)), True),
    Index("runs", _RUNS_NEWEST),
    Index("runs", (("status", ASCENDING), ("heartbeat_at", ASCENDING))),
    Index("reservations", (("state", ASCENDING), ("lease_until", ASCENDING))),
    Index("reservations", (("closed_at", ASCENDING),), expire_after_s=CLOSED_RESERVATION_TTL_S),
    Index("budget", (("holds.until", ASCENDING),)),
    Index("budget", (("applied.at", ASCENDING),)),
    Index("alerts", _ALERTS_NEWEST),
    Index("alerts", _ALERT_KINDS),
    Index("usage_totals", _TOTALS, unique=True),
    Index("alert_keys", (("pending.at", ASCENDING),)),
)

QUERIES: dict[str, Query] = {
    # Both branches of the claim's $or (queued statuses; processing with a passed lease, whose
    # lease_until is checked on the few processing jobs the index yields).
    "claim_jobs": Query("jobs", index_name(_CLAIM), ("status",), _CLAIM[1:]),
    "status_counts": Query("jobs", index_name(_CLAIM), ("status",)),
    "list_jobs": Query("jobs", index_name(_NEWEST_UPDATED), (), _NEWEST_UPDATED),
    "list_jobs_by_status": Query("jobs", index_name(_STATUS_NEWEST), ("status",), _NEWEST_UPDATED),
    "applied_since": Query("jobs", "applied_at_1", ranges=("applied_at",)),
    "job_of_posting": Query("jobs", "sources.posting_id_1", ("sources.posting_id",)),
    "same_posting_elsewhere": Query("jobs", index_name(_MATCH), ("match_key",), _MATCH[1:]),
    "list_followups": Query(
        "jobs", index_name(_FOLLOWUPS), ("status",), _FOLLOWUPS[1:], ("status_changed_at",)
    ),
    "usage_between": Query("usage", "at_1", ranges=("at",)),
    "usage_of_run": Query("usage", "run_id_1", ("run_id",)),
    "usage_of_job": Query("usage", "job_id_1", ("job_id",)),
    "list_progress": Query("progress", "run_id_1_job_id_1_layer_1", ("run_id",)),
    "list_runs": Query("runs", index_name(_RUNS_NEWEST), (), _RUNS_NEWEST),
    "stale_runs": Query("runs", "status_1_heartbeat_at_1", ("status",), ranges=("heartbeat_at",)),
    "reservations_past_lease": Query(
        "reservations", "state_1_lease_until_1", ("state",), ranges=("lease_until",)
    ),
    "expired_holds": Query("budget", "holds.until_1", ranges=("holds.until",)),
    "old_settle_markers": Query("budget", "applied.at_1", ranges=("applied.at",)),
    "list_alerts": Query("alerts", index_name(_ALERTS_NEWEST), (), _ALERTS_NEWEST, ("at",)),
    # Counted per kind in kind order: the $group reads the index, not the alert documents.
    "alerts_by_kind": Query("alerts", index_name(_ALERT_KINDS), (), _ALERT_KINDS),
    "usage_totals": Query("usage_totals", index_name(_TOTALS), (), _TOTALS),
    "pending_alerts": Query("alert_keys", "pending.at_1", ranges=("pending.at",)),
}

# Indexes earlier versions created that no query uses any more: dropped when a store opens.
OBSOLETE: dict[str, tuple[str, ...]] = {
    "jobs": (
        "status_1_ingested_at_1",
        "updated_at_1",
        "company_1",
        "match_key_1_ingested_at_1",
        "status_1_status_changed_at_1",
    ),
    "usage": ("provider_1", "model_1", "layer_1"),
    "runs": ("started_at_-1",),
    "alerts": ("key_1_at_-1", "at_-1"),
}


def order(name: str) -> list[tuple[str, int]]:
    """The sort of query ``name``, as pymongo takes it."""
    return list(QUERIES[name].sort)


def claim_query(
    statuses: Sequence[Status], now: datetime, job_ids: Sequence[str] | None = None
) -> dict[str, Any]:
    """Claimable jobs: a queued status, or ``processing`` with a passed lease (served by the
    claim index on each branch, in claim order)."""
    query: dict[str, Any] = {
        "$or": [
            {"status": {"$in": [Status(s).value for s in statuses]}},
            {"status": Status.PROCESSING.value, "lease_until": {"$lt": now}},
        ]
    }
    if job_ids is not None:
        query["_id"] = {"$in": [str(j) for j in job_ids]}
    return query
