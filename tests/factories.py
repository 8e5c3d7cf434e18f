"""Builders for store test data: postings, stored jobs, layer outputs, usage records."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from applyflow.models import JobPosting, LayerOutput, Status, UsageRecord
from applyflow.store import Store

# A fixed "now" for every test: Wednesday 2026-03-18 16:30 UTC (09:30 in Los Angeles, PDT;
# 01:30 on Thursday in Tokyo). Los Angeles moved to summer time on Sunday 2026-03-08.
NOW = datetime(2026, 3, 18, 16, 30, tzinfo=UTC)

_seq = itertools.count(1)


def make_posting(**overrides: Any) -> JobPosting:
    """A valid posting with a unique external id; any field can be overridden."""
    n = next(_seq)
    fields: dict[str, Any] = {
        "source": "test",
        "external_id": f"ext-{n}",
        "url": f"https://jobs.example.com/{n}",
        "title": f"Engineer {n}",
        "company": f"Company {n}",
        "location": "Remote",
        "description": f"Build things, posting {n}.",
    }
    fields.update(overrides)
    return JobPosting(**fields)


def add_job(store: Store, now: datetime = NOW, **overrides: Any) -> str:
    """Upsert a new posting; its job id."""
    posting = make_posting(**overrides)
    assert store.upsert_job(posting, now) == "inserted"
    return posting.id


def add_jobs(store: Store, n: int, start: datetime = NOW) -> list[str]:
    """``n`` jobs ingested one second apart (oldest first)."""
    return [add_job(store, start + timedelta(seconds=i)) for i in range(n)]


def applied_job(store: Store, at: datetime, **overrides: Any) -> str:
    """A job marked applied at ``at``."""
    job_id = add_job(store, at - timedelta(days=1), **overrides)
    store.set_status(job_id, Status.APPLIED, at)
    return job_id


def bring_to(store: Store, job_id: str, status: Status, now: datetime = NOW) -> str:
    """Move a new job to ``status`` the way the pipeline and a user would (before ``now``)."""
    if status in (Status.APPLIED, Status.DISCARDED):
        store.set_status(job_id, status, now - timedelta(days=1))
    elif status in (Status.INTERVIEW, Status.OFFER, Status.REJECTED):
        store.set_status(job_id, Status.APPLIED, now - timedelta(days=1))
        if status == Status.OFFER:
            store.set_status(job_id, Status.INTERVIEW, now - timedelta(hours=12))
        store.set_status(job_id, status, now - timedelta(hours=6))
    elif status != Status.NEW:  # processing (a dead worker's: lease passed) or a claim's end
        store.claim_jobs(1, "earlier", 60, now - timedelta(days=1), job_ids=[job_id])
        if status != Status.PROCESSING:
            store.release_job(job_id, "earlier", status, now - timedelta(hours=1))
    assert store.get_job(job_id).status == status
    return job_id


def job_in(store: Store, status: Status) -> str:
    """A new job brought to ``status`` (``bring_to``)."""
    return bring_to(store, add_job(store, NOW - timedelta(days=2)), status)


def make_output(cost: float = 0.0, **output: Any) -> LayerOutput:
    return LayerOutput(
        output=output or {"ok": True}, input_hash="hash-1", model="offline", cost_usd=cost, at=NOW
    )


def make_usage(**overrides: Any) -> UsageRecord:
    """A settled call with a unique call id."""
    fields: dict[str, Any] = {
        "call_id": f"call-{next(_seq)}",
        "run_id": "run-1",
        "job_id": "job-1",
        "layer": "score",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 50,
        "cost_usd": 0.01,
        "at": NOW,
    }
    fields.update(overrides)
    return UsageRecord(**fields)
