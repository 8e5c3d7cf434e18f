"""The live pipeline run as its tasks see it: a ``RunContext`` looked up by run id.

Prefect task parameters stay plain (run id, job id); everything else a task needs (settings,
store, guard, profile, runtime) is in the run's context, registered for as long as the run goes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from applyflow.errors import BudgetExceeded, GuardError
from applyflow.models import ProfileRef, ProgressRecord, Status
from applyflow.modelspec import OFFLINE
from applyflow.runtime import Runtime
from applyflow.settings import Settings
from applyflow.store import Store
from applyflow.store.jobs import HELD_STATUSES
from applyflow.tracing import NULL_SPAN, Span
from tasks.seats import Seats
from tasks.waits import RunWaits

if TYPE_CHECKING:
    from guards.call import ModelGuard

__all__ = ["RunContext", "deferral_reason", "get_run", "register_run", "unregister_run"]


@dataclass
class RunContext:
    """Everything the tasks of one pipeline run share, looked up by run id."""

    run_id: str
    settings: Settings
    store: Store
    guard: ModelGuard
    profile: str
    profile_ref: ProfileRef | None = None  # recorded on each layer output
    model: str | None = None
    force: bool = False
    price_as: str | None = None
    # A dry run: ``store`` is a scratch copy of the jobs, every call goes to the offline model
    # (priced as ``price_as``, else as the layer's model), publish writes nothing, and
    # ``run_store`` (the real store) gets only the run's own row.
    dry_run: bool = False
    run_store: Store | None = None
    min_fit: int = 0  # a job scoring below stops after score as skipped; 0: no gate
    runtime: Runtime = field(default_factory=Runtime)
    stop_reason: str | None = None
    forecast_usd: float = 0.0
    job_forecasts: dict[str, float] = field(default_factory=dict)
    job_savings: dict[str, float] = field(default_factory=dict)  # layers the fit gate spared
    # Each progress row as it is written (the run's progress artifact listens).
    on_progress: Callable[[ProgressRecord], None] | None = None
    # "title @ company" of each claimed job: task run names in the Prefect UI.
    job_names: dict[str, str] = field(default_factory=dict)
    # The run's span and each running job's: parents passed across Prefect's thread pool.
    span: Span = NULL_SPAN
    job_spans: dict[str, Span] = field(default_factory=dict)
    # Applications this run holds in their own status (``run --job ID --force``).
    held: dict[str, Status] = field(default_factory=dict)
    # Jobs in their model layers at once (``job_concurrency``, tasks/seats.py).
    seats: Seats = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _waits: RunWaits | None = None

    def __post_init__(self) -> None:
        self.seats = Seats(self.settings.job_concurrency)

    def model_for(self, layer: str) -> str:
        """The layer's model: what its input hash names (in a dry run too)."""
        return self.model or self.settings.model_for(layer)

    def call_model(self, layer: str) -> str:
        """The model the layer's calls go to: the offline one in a dry run."""
        return OFFLINE if self.dry_run else self.model_for(layer)

    def forecast_model(self, layer: str) -> str | None:
        """The model the layer's calls are priced as for the forecast, if any."""
        return self.price_as or (self.model_for(layer) if self.dry_run else None)

    def saving_model(self, layer: str) -> str:
        """What a layer the fit gate spared is priced as: the run's model (a dry run's: the
        forecast's)."""
        return (self.forecast_model(layer) if self.dry_run else None) or self.model_for(layer)

    @property
    def runs(self) -> Store:
        """Where the run's row and heartbeat live."""
        return self.run_store or self.store

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self, reason: str) -> None:
        """End the run early (a wider-scope budget or rate limit); first reason wins."""
        with self._lock:
            if not self._stop.is_set():
                self.stop_reason = reason
                self._stop.set()

    def end_status(self, job_id: str, status: Status) -> Status:
        """The status a job's claim ends with: an application held in its status keeps it."""
        return self.held.get(job_id, status)

    def hold(self, job_id: str, status: Status) -> None:
        if status in HELD_STATUSES:
            self.held[job_id] = status

    def add_forecast(self, amount: float | None, job_id: str) -> None:
        if amount:
            with self._lock:
                self.forecast_usd += amount
                self.job_forecasts[job_id] = self.job_forecasts.get(job_id, 0.0) + amount

    def waiting(self, kind: str, detail: str | None = None) -> AbstractContextManager[None]:
        """Mark a model call of this run waiting on ``kind`` (shown on its Run: tasks/waits.py)."""
        with self._lock:
            if self._waits is None:
                self._waits = RunWaits(self.run_id, self.runs, self.runtime.clock)
            waits = self._waits
        return waits.waiting(kind, detail)

    def progress(self, record: ProgressRecord) -> None:
        if self.on_progress is not None:
            self.on_progress(record)

    def job_label(self, job_id: str) -> str:
        """How the Prefect UI names the job: its title and company, else its id."""
        return self.job_names.get(job_id, job_id)


def deferral_reason(exc: BaseException) -> str | None:
    """Why a guard refusal defers the whole run (wider than one job), else None."""
    if isinstance(exc, BudgetExceeded):
        return None if exc.scope.startswith("job") else str(exc)
    if isinstance(exc, GuardError):
        return str(exc)
    return None


_RUNS: dict[str, RunContext] = {}
_RUNS_LOCK = threading.Lock()


def register_run(ctx: RunContext) -> None:
    with _RUNS_LOCK:
        _RUNS[ctx.run_id] = ctx


def unregister_run(run_id: str) -> None:
    with _RUNS_LOCK:
        _RUNS.pop(run_id, None)


def get_run(run_id: str) -> RunContext:
    """The live run's context; a task from a finished or foreign run gets a clear error."""
    with _RUNS_LOCK:
        ctx = _RUNS.get(run_id)
    if ctx is None:
        raise LookupError(f"run {run_id} is not active in this process")
    return ctx
