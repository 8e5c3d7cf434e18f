"""Tracking after applying: the applications to follow up, for the CLI, the daily report and
the dashboard's Overview.

An application is due when its status (``applied`` or ``interview``) has not changed for
``APPLYFLOW_FOLLOWUP_DAYS`` days; ``status_changed_at`` counts from a backdated mark's date.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from applyflow.models import Job, Status
from applyflow.store import JobStore

__all__ = ["FollowUp", "followups"]


class FollowUp(BaseModel):
    """One application waiting for an answer."""

    id: str
    company: str
    title: str
    status: Status
    applied_at: datetime | None
    last_change: datetime  # its status's last change
    quiet_days: int  # whole days since then
    apply_url: str | None  # where it was sent (the posting page when the board has no form)


def _followup(job: Job, now: datetime) -> FollowUp:
    last = job.status_changed_at or job.applied_at or job.updated_at
    return FollowUp(
        id=job.id,
        company=job.company,
        title=job.title,
        status=job.status,
        applied_at=job.applied_at,
        last_change=last,
        quiet_days=(now - last).days,
        apply_url=job.apply_url or job.url,
    )


def followups(store: JobStore, now: datetime, days: int, *, limit: int = 100) -> list[FollowUp]:
    """Applications with no status change for ``days`` days at ``now``, the quietest first."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    jobs = store.list_followups(now - timedelta(days=days), limit=limit)
    return [_followup(job, now) for job in jobs]
