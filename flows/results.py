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
    calls: int = 0  # this run's model calls for the job, and their tokens
    input_tokens: int = 0
    output_tokens: int = 0
    forecast_usd: float | None = None  # its calls priced as the forecast model
    saved_usd: float | None = None  # skipped below the minimum fit: the layers not run, about
    files: list[str] = Field(default_factory=list)  # published files (ready or needs_review)
    unsupported_claims: list[Claim] = Field(default_factory=list)  # why it needs review


class RunSummary(BaseModel):
    """A pipeline run: each job's outcome, counts by status, usage and spend.

    In a dry run the jobs' statuses are what the run would end them with, and usage is that
    of the offline calls that stood in for the real ones.
    """

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
    # The calls priced as ``price_as`` (a dry run without it: as the run's own models).
    forecast_usd: float | None
    dry_run: bool = False  # a forecast: no job, output, file, budget or ledger row changed
    min_fit: int = 0  # the fit gate of the run (0: none; named jobs pass it)
    saved_usd: float = 0.0  # what the skipped jobs' layers not run would have cost, about
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
