"""Application stats as a user reads them: the funnel built from status counts."""

from __future__ import annotations

from applyflow.models import Status

# Each stage counts the jobs that reached it, so the funnel only narrows.
FUNNEL_STAGES: dict[str, tuple[Status, ...]] = {
    "ingested": tuple(Status),
    "processed": (
        Status.READY,
        Status.APPLIED,
        Status.INTERVIEW,
        Status.OFFER,
        Status.REJECTED,
        Status.FAILED,
        Status.OVER_BUDGET,
        Status.SKIPPED,
        Status.NEEDS_REVIEW,
    ),
    "ready": (Status.READY, Status.APPLIED, Status.INTERVIEW, Status.OFFER, Status.REJECTED),
    "applied": (Status.APPLIED, Status.INTERVIEW, Status.OFFER, Status.REJECTED),
    "interview": (Status.INTERVIEW, Status.OFFER),
    "offer": (Status.OFFER,),
}
FUNNEL_SIDE = ("rejected", "discarded")


def funnel(counts: dict[str, int]) -> dict[str, int]:
    """Stage -> jobs that reached it, then rejected and discarded beside them."""
    out = {
        stage: sum(counts.get(s.value, 0) for s in statuses)
        for stage, statuses in FUNNEL_STAGES.items()
    }
    for side in FUNNEL_SIDE:
        out[side] = counts.get(side, 0)
    return out
