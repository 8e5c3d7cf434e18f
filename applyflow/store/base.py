"""The store contract. ``SQLiteStore`` and ``MongoStore`` implement it; one contract suite
(``tests/store/``) runs against both.

Conventions every implementation keeps:
- Datetimes in and out are timezone-aware UTC. "now" is always passed in from Python.
- Updates are field-level (never read-modify-write of a whole job), so a user's ``mark`` and a
  pipeline's ``save_layer_output`` on the same job never lose each other's change.
- ``claim_jobs``, ``reserve`` and ``settle`` are atomic across processes (SQLite:
  ``BEGIN IMMEDIATE``; MongoDB: conditional ``find_one_and_update``).
- Stats are computed by the database (SQL / aggregation pipelines over indexes).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from applyflow.models import (
    Alert,
    ApplicationStats,
    BreakerState,
    Job,
    JobPosting,
    LayerOutput,
    ProgressRecord,
    Run,
    ScopeCounters,
    SpendBucket,
    SpendGroup,
    Status,
    UpsertReport,
    UsageRecord,
    WeekCount,
)

UpsertOutcome = Literal["inserted", "updated", "unchanged"]
SpendField = Literal["provider", "model", "layer", "job_id", "run_id"]


class Store(ABC):
    """Everything applyflow keeps: jobs, progress, runs, usage, budget, alerts, breakers."""

    url: str

    # --- lifecycle -------------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def ping(self) -> float:
        """Round-trip to the database in milliseconds; ``StoreError`` if unreachable."""

    # --- jobs ------------------------------------------------------------------------------
    @abstractmethod
    def upsert_job(self, posting: JobPosting, now: datetime) -> UpsertOutcome:
        """Insert by fingerprint, update when the content hash changed, else unchanged.

        An update changes posting fields only; status, outputs and applied_at are kept.
        """

    def upsert_jobs(self, postings: Iterable[JobPosting], now: datetime) -> UpsertReport:
        """Upsert many postings; counts per outcome."""
        report = UpsertReport()
        for posting in postings:
            outcome = self.upsert_job(posting, now)
            setattr(report, outcome, getattr(report, outcome) + 1)
            report.ids.append(posting.id)
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
        never a regex or query operator."""

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

    @abstractmethod
    def status_counts(self) -> dict[str, int]:
        """Jobs per status, every status present (zeros included)."""

    # --- runs and progress -----------------------------------------------------------------
    @abstractmethod
    def save_run(self, run: Run) -> None:
        """Insert or replace a run by id."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run | None: ...

    @abstractmethod
    def list_runs(self, limit: int = 20) -> list[Run]:
        """Newest started first."""

    @abstractmethod
    def record_progress(self, record: ProgressRecord) -> None:
        """Upsert the (run, job, layer) row."""

    @abstractmethod
    def list_progress(self, run_id: str) -> list[ProgressRecord]:
        """Rows of a run ordered by job then layer start."""

    # --- usage ledger ----------------------------------------------------------------------
    @abstractmethod
    def record_usage(self, record: UsageRecord) -> bool:
        """Append a settled call; False (and nothing written) if ``call_id`` exists."""

    @abstractmethod
    def usage_total(
        self,
        *,
        run_id: str | None = None,
        job_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SpendGroup:
        """Sum of calls, tokens and cost over the matching rows (``key`` is None)."""

    @abstractmethod
    def spend_by(
        self, field: SpendField, *, since: datetime | None = None, limit: int | None = None
    ) -> list[SpendGroup]:
        """Sums grouped by ``field``, most expensive first."""

    @abstractmethod
    def spend_series(
        self, bucket: Literal["hour", "day"], since: datetime, until: datetime, tz: ZoneInfo
    ) -> list[SpendBucket]:
        """Contiguous buckets (zeros included) from ``since`` to ``until``; day buckets start
        at local midnight in ``tz``, hour buckets on the hour. Each bucket sums its whole
        span, so the first and last may include calls just outside ``since``/``until``."""

    # --- budget ----------------------------------------------------------------------------
    @abstractmethod
    def reserve(
        self,
        reservation_id: str,
        caps: dict[str, float | None],
        amount: float,
        now: datetime,
        lease_s: float,
        *,
        enforce: bool = True,
    ) -> None:
        """Reserve ``amount`` against every scope key in ``caps`` (cap None = unlimited).

        All or nothing: if ``spent + reserved + amount > cap`` for any scope (with expired
        reservations swept first), raise ``BudgetExceeded`` for the first such scope and
        reserve nothing. Never lets the sum over a cap, across processes. With
        ``enforce=False`` the reservation is always made.
        """

    @abstractmethod
    def settle(
        self,
        reservation_id: str,
        scopes: Sequence[str],
        actual: float,
        now: datetime,
        usage: UsageRecord | None = None,
    ) -> None:
        """Replace the reservation with ``actual`` spend on each scope and append ``usage``.

        Idempotent per reservation id. If the reservation had already expired, ``actual`` is
        still added to every scope in ``scopes`` (the money was spent).
        """

    @abstractmethod
    def release(self, reservation_id: str) -> None:
        """Drop a reservation without spending (the call failed or never ran)."""

    @abstractmethod
    def expire_reservations(self, now: datetime) -> int:
        """Drop reservations whose lease has passed; how many."""

    @abstractmethod
    def scope_states(self, scopes: Sequence[str], now: datetime) -> dict[str, ScopeCounters]:
        """Spent and (unexpired) reserved per scope key; unknown scopes are zeros.

        A reservation is held while ``lease_until >= now`` and expired once ``now`` is past it.
        """

    @abstractmethod
    def open_reservations(self, now: datetime) -> int:
        """Unexpired reservations held right now."""

    # --- alerts and breakers ---------------------------------------------------------------
    @abstractmethod
    def record_alert(self, alert: Alert, dedup_s: float) -> bool:
        """Store the alert unless one with the same key was stored in the last ``dedup_s``
        seconds (atomic across processes); True if stored."""

    @abstractmethod
    def list_alerts(self, limit: int = 50, since: datetime | None = None) -> list[Alert]:
        """Newest first."""

    @abstractmethod
    def save_breaker_state(self, state: BreakerState) -> None: ...

    @abstractmethod
    def breaker_states(self) -> list[BreakerState]: ...

    # --- application stats -----------------------------------------------------------------
    @abstractmethod
    def application_stats(self, now: datetime, tz: ZoneInfo) -> ApplicationStats:
        """Jobs with ``applied_at``: since local midnight in ``tz`` (today), in the last
        7 days, in the last 30 days, and in total. Bounds are computed in Python and the
        database counts over an index. Windows are ``[bound, now]``, both ends included;
        "last 7 days" means ``now - 7 * 24 h``."""

    @abstractmethod
    def weekly_applications(self, now: datetime, tz: ZoneInfo, weeks: int = 12) -> list[WeekCount]:
        """Applications per local week (Monday 00:00 in ``tz``), oldest first, exactly
        ``weeks`` entries, the last one being the current week."""
