"""The jobs part of the store contract: postings in, claims, layer outputs and statuses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

from applyflow.errors import StoreError
from applyflow.models import Job, JobPosting, LayerOutput, Status, UpsertReport

__all__ = ["MAX_SEARCH_CHARS", "JobStore", "UpsertOutcome", "check_search_text", "tally"]

UpsertOutcome = Literal["inserted", "updated", "unchanged"]


# Longer search text is refused with a clear error on every store (MongoDB rejects a pattern
# over 32 KB; no one types a search of 1,000 characters).
MAX_SEARCH_CHARS = 1000


def check_search_text(name: str, value: str | None) -> None:
    """``StoreError`` when search text (``company``/``text``) cannot be searched for."""
    if value is None:
        return
    if "\x00" in value:
        raise StoreError(f"search {name} contains a NUL character; remove it and search again")
    if len(value) > MAX_SEARCH_CHARS:
        raise StoreError(
            f"search {name} is {len(value):,} characters long; at most {MAX_SEARCH_CHARS:,}"
        )


def tally(report: UpsertReport, job_id: str, outcome: UpsertOutcome) -> None:
    """Count one upsert's outcome in ``report``."""
    setattr(report, outcome, getattr(report, outcome) + 1)
    report.ids.append(job_id)


class JobStore(ABC):
    """Jobs: one per posting fingerprint, handed to one worker at a time."""

    @abstractmethod
    def upsert_job(self, posting: JobPosting, now: datetime) -> UpsertOutcome:
        """Insert by fingerprint, update when the content hash changed, else unchanged.

        An update changes posting fields only; status, outputs and applied_at are kept.
        """

    def upsert_jobs(self, postings: Iterable[JobPosting], now: datetime) -> UpsertReport:
        """Upsert many postings; counts per outcome."""
        report = UpsertReport()
        for posting in postings:
            tally(report, posting.id, self.upsert_job(posting, now))
        return report

    @abstractmethod
    def get_job(self, job_id: str) -> Job:
        """The job, or ``JobNotFound``."""

    @abstractmethod
    def list_jobs(
        self,
        *,
        status: Status | Sequence[Status] | None = None,
        company: str | None = None,
        min_fit: int | None = None,
        text: str | None = None,
        limit: int = 500,
    ) -> list[Job]:
        """Jobs newest-updated first. ``company`` and ``text`` match case-insensitively as
        substrings (text searches title, company and description); they are literal text,
        never a regex or query operator. Search text with a NUL character or longer than
        ``MAX_SEARCH_CHARS`` is refused with ``StoreError`` (``check_search_text``)."""

    @abstractmethod
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
        """Atomically hand up to ``n`` jobs to ``worker``: status -> processing, lease set.

        Candidates: status in ``statuses``, or ``processing`` with ``lease_until < now``
        (a dead worker's job). ``job_ids`` restricts candidates. Oldest ingested first.
        Each job goes to exactly one worker even with many processes claiming at once.
        """

    @abstractmethod
    def renew_lease(self, job_id: str, worker: str, lease_s: float, now: datetime) -> bool:
        """Extend a held lease; False if the worker no longer holds the job."""

    @abstractmethod
    def release_job(
        self,
        job_id: str,
        worker: str,
        status: Status,
        now: datetime,
        *,
        error: str | None = None,
    ) -> bool:
        """End a claim with ``status`` (ready, failed, over_budget or back to new).

        Only when the job is still ``processing`` and held by ``worker``; returns False
        otherwise (e.g. the user discarded it meanwhile, which then wins).
        """

    @abstractmethod
    def save_layer_output(
        self, job_id: str, layer: str, output: LayerOutput, *, fit: int | None = None
    ) -> None:
        """Set ``outputs[layer]`` (and ``fit`` when given), add ``output.cost_usd`` to the job's
        cost. Touches no other field."""

    @abstractmethod
    def set_status(
        self, job_id: str, status: Status, now: datetime, *, error: str | None = None
    ) -> Job:
        """Validated status change (``InvalidTransition``, ``JobNotFound``), applying the
        ``applied_at`` rule of ``models.applied_at_after``. Atomic: conditional on the status
        read, retried if it changed underneath."""
