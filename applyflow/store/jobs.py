"""The jobs part of the store contract: postings in, claims, layer outputs and statuses.

The rules both implementations share are here too: what a changed posting does to its job's
status (``on_posting_change``) and which dates a status change may have (``check_change_at``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from applyflow.errors import InvalidDate, StoreError
from applyflow.models import (
    APPLICATION_STATUSES,
    REQUEUE_ON_CHANGE,
    Job,
    JobPosting,
    LayerOutput,
    Status,
    UpsertReport,
)

__all__ = [
    "HELD_STATUSES",
    "MAX_SEARCH_CHARS",
    "NOTE_MAX",
    "JobStore",
    "PostingKeys",
    "Upserted",
    "UpsertOutcome",
    "check_change_at",
    "check_note",
    "check_search_text",
    "on_posting_change",
    "tally",
]

UpsertOutcome = Literal["inserted", "linked", "updated", "requeued", "unchanged"]
NOTE_MAX = 500  # characters of a status change's note
# A claim on an application (``run --job ID --force`` regenerating its documents) keeps the
# job's status: it is held in its status, not moved to ``processing``, so the follow-up clock,
# ``applied_at`` and the history stay as they were, and a run that dies leaves it applied.
HELD_STATUSES = APPLICATION_STATUSES


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


@dataclass(frozen=True)
class PostingKeys:
    """A posting's fingerprint, content hash and match key, each computed once per upsert."""

    id: str
    content_hash: str
    match_key: str

    @classmethod
    def of(cls, posting: JobPosting) -> PostingKeys:
        return cls(posting.id, posting.content_hash(), posting.match_key)


@dataclass(frozen=True)
class Upserted:
    """What storing one posting did, and to which job."""

    outcome: UpsertOutcome
    job_id: str


def tally(report: UpsertReport, upserted: Upserted) -> None:
    """Count one posting's outcome in ``report`` (a requeued job was also updated)."""
    outcome = upserted.outcome
    if outcome == "requeued":
        report.updated += 1
    setattr(report, outcome, getattr(report, outcome) + 1)
    report.ids.append(upserted.job_id)


def on_posting_change(current: Status, source: str) -> tuple[UpsertOutcome, Status, str | None]:
    """A job in ``current`` whose posting on ``source`` changed: (outcome, its status after,
    the history note, if any)."""
    if current in REQUEUE_ON_CHANGE:
        return "requeued", Status.NEW, f"posting changed on {source}: back to the queue"
    if current in APPLICATION_STATUSES:
        return "updated", current, f"posting changed on {source} after the application"
    return "updated", current, None


def check_change_at(
    job_id: str, target: Status, at: datetime, now: datetime, applied_at: datetime | None
) -> None:
    """``InvalidDate`` unless a change to ``target`` may be dated ``at``: not after ``now``, and
    a later application stage not before the application was sent."""
    if at > now:
        raise InvalidDate(
            f"job {job_id}: {at:%Y-%m-%d %H:%M} UTC is in the future "
            f"(now {now:%Y-%m-%d %H:%M} UTC); a status change can only be backdated"
        )
    later_stage = target in APPLICATION_STATUSES and target != Status.APPLIED
    if later_stage and applied_at is not None and at < applied_at:
        raise InvalidDate(
            f"job {job_id}: {target.value} on {at:%Y-%m-%d %H:%M} UTC would be before the "
            f"application ({applied_at:%Y-%m-%d %H:%M} UTC)"
        )


def check_note(note: str | None) -> None:
    """``ValueError`` unless ``note`` is short enough to keep."""
    if note is not None and len(note) > NOTE_MAX:
        raise ValueError(f"a status note is at most {NOTE_MAX} characters, got {len(note)}")


class JobStore(ABC):
    """Jobs: one per posting, wherever it was found, handed to one worker at a time."""

    @abstractmethod
    def upsert_posting(self, posting: JobPosting, now: datetime) -> Upserted:
        """Store one posting as a job or as another source of one; atomic per posting.

        - Known on this source (same fingerprint and source): ``unchanged`` when its content
          hash is the same. Else its job takes the posting's fields (status, outputs and
          applied_at kept) and ``on_posting_change`` decides the rest: a processing, ready,
          skipped, failed or needs_review job goes back to ``new`` (``requeued``, a history
          entry), an applied-or-later one keeps its status with a history note (``updated``).
        - Else linked (``linked``, content and status kept) to the job that holds the same
          fingerprint from another source, or else to the oldest-ingested job with the same
          ``match_key`` and no posting from this source.
        - Else a new job (``inserted``) with status ``new`` and the posting as its one source.
        """

    def upsert_job(self, posting: JobPosting, now: datetime) -> UpsertOutcome:
        """``upsert_posting``'s outcome only."""
        return self.upsert_posting(posting, now).outcome

    def upsert_jobs(self, postings: Iterable[JobPosting], now: datetime) -> UpsertReport:
        """Upsert many postings; counts per outcome."""
        report = UpsertReport()
        for posting in postings:
            tally(report, self.upsert_posting(posting, now))
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
        A job in one of ``statuses`` that is a ``HELD_STATUSES`` status keeps it: only the
        claim and lease are set, and only when no live claim holds it (no ``claimed_by``, or
        ``lease_until < now``).
        """

    @abstractmethod
    def renew_lease(self, job_id: str, worker: str, lease_s: float, now: datetime) -> bool:
        """Extend a held lease (``processing``, or held in a ``HELD_STATUSES`` status); False
        if the worker no longer holds the job."""

    @abstractmethod
    def list_followups(self, before: datetime, *, limit: int = 100) -> list[Job]:
        """Applications waiting for an answer (``FOLLOWUP_STATUSES``) whose status has not
        changed since ``before`` (``status_changed_at <= before``), the quietest first. A
        range scan of the (status, status_changed_at) index."""

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
        """End a claim with ``status`` (ready, failed, over_budget or back to new), recorded in
        the job's history.

        Only when the job is still ``processing`` and held by ``worker``; returns False
        otherwise (e.g. the user discarded it meanwhile, which then wins). A job held in a
        ``HELD_STATUSES`` status is released with that same status: the claim ends and
        ``error`` is set, and nothing else changes (no history entry, ``status_changed_at``
        and ``applied_at`` kept).
        """

    @abstractmethod
    def save_layer_output(
        self, job_id: str, layer: str, output: LayerOutput, *, fit: int | None = None
    ) -> None:
        """Set ``outputs[layer]`` (and ``fit`` when given), add ``output.cost_usd`` to the job's
        cost. Touches no other field."""

    @abstractmethod
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
        """Validated status change (``InvalidTransition``, ``JobNotFound``), applying the
        ``applied_at`` rule of ``models.applied_at_after``, appended to the job's history with
        ``note`` (``check_note``). ``at`` backdates it (``check_change_at``, ``InvalidDate``):
        the history entry, ``status_changed_at`` and a marked ``applied_at`` take that date.
        Atomic: conditional on the status read, retried if it changed underneath."""
