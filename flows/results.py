"""What the flows return: typed results whose JSON (``model_dump(mode="json")``) is what
`applyflow run --json` and `applyflow ingest --json` print."""

from __future__ import annotations

from pydantic import BaseModel, Field

from applyflow.models import Claim, ProfileRef, RunStatus, Status
from tasks.ingest import Rejection

__all__ = ["IngestReport", "JobOutcome", "RunSummary", "SourceOutcome"]


class JobOutcome(BaseModel):
    """How one job of a pipeline run ended."""

    id: str
    title: str
    company: str
    status: Status
    fit: int | None
    cost_usd: float  # this run's spend on the job
    error: str | None
    files: list[str] = Field(default_factory=list)  # published files (ready or needs_review)
    unsupported_claims: list[Claim] = Field(default_factory=list)  # why it needs review


class RunSummary(BaseModel):
    """A pipeline run: each job's outcome, counts by status, usage and spend."""

    run_id: str
    flow_run_id: str | None
    status: RunStatus
    stop_reason: str | None  # why a wider limit ended the run early
    model: str
    jobs: list[JobOutcome]
    counts: dict[str, int]  # status -> jobs (ready, failed, over_budget, new always present)
    calls: int
    input_tokens: int
    output_tokens: int
    spend_usd: float
    price_as: str | None
    forecast_usd: float | None  # the calls priced as ``price_as``
    profile: ProfileRef | None = None  # the candidate profile the run read


class SourceOutcome(BaseModel):
    """One source of an ingest run: how many postings it gave, or why it was not read."""

    source: str
    postings: int = 0
    rejected: int = 0
    error: str | None = None


class IngestReport(BaseModel):
    """An ingest run: upsert counts, every rejected record, each source, the jobs it touched.

    ``linked``: postings that are another source of a job already stored; ``updated``: postings
    whose content changed, of which ``requeued`` sent a finished job back to the queue.
    """

    inserted: int = 0
    linked: int = 0
    updated: int = 0
    requeued: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[Rejection] = Field(default_factory=list)
    sources: list[SourceOutcome] = Field(default_factory=list)
    job_ids: list[str] = Field(default_factory=list)
    flow_run_id: str | None = None
