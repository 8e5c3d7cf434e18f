"""Job statuses: the values, who sets them, the allowed transitions and ``applied_at``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from applyflow.errors import InvalidTransition


class Status(StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    READY = "ready"
    APPLIED = "applied"
    INTERVIEW = "interview"
    OFFER = "offer"
    REJECTED = "rejected"
    DISCARDED = "discarded"
    FAILED = "failed"
    OVER_BUDGET = "over_budget"
    SKIPPED = "skipped"  # its fit was below the minimum: no documents were generated
    NEEDS_REVIEW = "needs_review"  # its documents make claims the profile does not support


# Statuses a user sets by hand (CLI `mark`, dashboard buttons).
USER_STATUSES = (
    Status.APPLIED,
    Status.INTERVIEW,
    Status.OFFER,
    Status.REJECTED,
    Status.DISCARDED,
)
# After these the application went out, so `applied_at` is kept.
APPLICATION_STATUSES = frozenset({Status.APPLIED, Status.INTERVIEW, Status.OFFER, Status.REJECTED})
# A changed posting sends these back to the queue: their documents describe the old posting.
# (An applied-or-later job keeps its status; new, discarded and over_budget ones keep theirs.)
REQUEUE_ON_CHANGE = frozenset(
    {Status.PROCESSING, Status.READY, Status.SKIPPED, Status.FAILED, Status.NEEDS_REVIEW}
)
# Applications still waiting for the other side: the ones to follow up when nothing changes.
FOLLOWUP_STATUSES = (Status.APPLIED, Status.INTERVIEW)

_ANY_USER = set(USER_STATUSES)
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.PROCESSING, Status.DISCARDED, Status.APPLIED}),
    Status.PROCESSING: frozenset(
        {
            Status.NEW,
            Status.READY,
            Status.FAILED,
            Status.OVER_BUDGET,
            Status.SKIPPED,
            Status.NEEDS_REVIEW,
            Status.DISCARDED,
        }
    ),
    Status.READY: frozenset(_ANY_USER | {Status.NEW}),
    Status.APPLIED: frozenset(
        {Status.INTERVIEW, Status.OFFER, Status.REJECTED, Status.DISCARDED, Status.READY}
    ),
    Status.INTERVIEW: frozenset({Status.OFFER, Status.REJECTED, Status.DISCARDED, Status.APPLIED}),
    Status.OFFER: frozenset({Status.REJECTED, Status.DISCARDED, Status.INTERVIEW}),
    Status.REJECTED: frozenset({Status.DISCARDED, Status.APPLIED, Status.INTERVIEW}),
    Status.DISCARDED: frozenset({Status.NEW, Status.READY}),
    Status.FAILED: frozenset({Status.NEW, Status.PROCESSING, Status.DISCARDED}),
    Status.OVER_BUDGET: frozenset({Status.NEW, Status.PROCESSING, Status.DISCARDED}),
    # A user may still apply to a skipped job, or send reviewed documents (or approve them).
    Status.SKIPPED: frozenset(_ANY_USER | {Status.NEW, Status.PROCESSING}),
    Status.NEEDS_REVIEW: frozenset(_ANY_USER | {Status.READY, Status.NEW, Status.PROCESSING}),
}


def parse_status(value: str) -> Status:
    """``Status`` from user text, or ``ValueError`` listing the valid choices."""
    try:
        return Status(value.strip().lower())
    except ValueError:
        choices = ", ".join(s.value for s in Status)
        raise ValueError(f"unknown status {value!r}; valid statuses: {choices}") from None


def check_transition(job_id: str, current: Status | str, target: Status | str) -> None:
    """Raise ``InvalidTransition`` unless ``current -> target`` is allowed (same -> same is)."""
    current, target = Status(current), Status(target)
    if current == target:
        return
    allowed = TRANSITIONS[current]
    if target not in allowed:
        raise InvalidTransition(
            job_id, current.value, target.value, sorted(s.value for s in allowed)
        )


def applied_at_after(
    current: Status,
    target: Status,
    applied_at: datetime | None,
    now: datetime,
    *,
    backdated: bool = False,
) -> datetime | None:
    """The ``applied_at`` a job has after ``current -> target`` at time ``now``.

    Marking ``applied`` stamps ``now`` (unless already stamped; a ``backdated`` mark replaces
    the stamp with its date); moving on to interview/offer/rejected keeps the stamp; any other
    status clears it.
    """
    if target == Status.APPLIED:
        return now if backdated else (applied_at or now)
    if target in APPLICATION_STATUSES:
        return applied_at if applied_at is not None else now
    return None
