"""Task state hooks that write live progress: one (run, job, layer) row per layer task.

``on_running`` / ``on_completion`` / ``on_failure`` write the row while the run goes, so
``applyflow status`` and the dashboard see a layer running as it runs.

Prefect logs two INFO lines per hook it runs ("Running hook '_on_running' in response to
entering state 'Running'", then "Hook '_on_running' finished running successfully"), which read
as the hook running twice; ``OneLinePerHook`` drops the second for applyflow's own hooks
(errors from a hook are still logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import Task
from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.states import State

from applyflow.models import ProgressRecord, ProgressStatus, utcnow
from tasks.retries import failure_of
from tasks.run import deferral_reason, get_run

__all__ = ["HOOKS", "LayerResult", "OneLinePerHook", "mark"]

log = logging.getLogger(__name__)


class OneLinePerHook(logging.Filter):
    """Drops Prefect's "Hook 'NAME' finished running successfully" for the named hooks."""

    def __init__(self, hooks: set[str]) -> None:
        super().__init__()
        self._done = {f"Hook {name!r} finished running successfully" for name in hooks}

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg in self._done)


@dataclass
class LayerResult:
    """What a layer task returns (the progress hooks read it)."""

    layer: str
    cached: bool
    cost_usd: float = 0.0
    forecast_usd: float | None = None
    calls: int = 0
    fit: int | None = None


def _ids() -> tuple[str, str] | None:
    ctx = TaskRunContext.get()
    if ctx is None:
        return None
    params = ctx.parameters or {}
    run_id, job_id = params.get("run_id"), params.get("job_id")
    return (run_id, job_id) if isinstance(run_id, str) and isinstance(job_id, str) else None


def mark(
    run_id: str,
    job_id: str,
    layer: str,
    status: ProgressStatus,
    *,
    started_at: datetime | None = None,
    cost_usd: float = 0.0,
    error: str | None = None,
) -> None:
    """Write one progress row and pass it to the run's progress artifact."""
    try:
        ctx = get_run(run_id)
    except LookupError:
        return
    now = utcnow()
    finished = status not in (ProgressStatus.PENDING, ProgressStatus.RUNNING)
    record = ProgressRecord(
        run_id=run_id,
        job_id=job_id,
        layer=layer,
        status=status,
        started_at=started_at,
        ended_at=now if finished else None,
        duration_s=(now - started_at).total_seconds() if finished and started_at else None,
        cost_usd=cost_usd,
        error=error,
        updated_at=now,
    )
    try:
        ctx.store.record_progress(record)
    except Exception:  # progress is for watching; it must never fail the layer
        log.exception("could not record progress for %s/%s/%s", run_id, job_id, layer)
    ctx.progress(record)


def _started(task_run: TaskRun) -> datetime:
    # Prefect's own datetime type does not mix with stdlib arithmetic: convert.
    if task_run.start_time is None:
        return utcnow()
    return datetime.fromtimestamp(task_run.start_time.timestamp(), UTC)


def _on_running(task_: Task, task_run: TaskRun, state: State) -> None:
    if ids := _ids():
        mark(*ids, task_.name, ProgressStatus.RUNNING, started_at=_started(task_run))


def _on_completion(task_: Task, task_run: TaskRun, state: State) -> None:
    ids = _ids()
    if not ids:
        return
    result = state.result(raise_on_failure=False)
    cached = isinstance(result, LayerResult) and result.cached
    cost = result.cost_usd if isinstance(result, LayerResult) else 0.0
    status = ProgressStatus.CACHED if cached else ProgressStatus.COMPLETED
    mark(*ids, task_.name, status, started_at=_started(task_run), cost_usd=cost)


def _on_failure(task_: Task, task_run: TaskRun, state: State) -> None:
    ids = _ids()
    if not ids:
        return
    exc = failure_of(state)
    error = str(exc) if exc is not None else (state.message or "failed")
    # A run-wide deferral is not this layer's fault: it will run in a later run.
    status = ProgressStatus.SKIPPED if exc and deferral_reason(exc) else ProgressStatus.FAILED
    mark(*ids, task_.name, status, started_at=_started(task_run), error=error[:1000])


# The state hooks of every layer task, as ``prefect.task`` keyword arguments.
HOOKS: dict[str, Any] = {
    "on_running": [_on_running],
    "on_completion": [_on_completion],
    "on_failure": [_on_failure],
}
# The engine logs task hooks on Prefect's task-run logger (console and API handlers alike).
logging.getLogger("prefect.task_runs").addFilter(
    OneLinePerHook({hook.__name__ for hooks in HOOKS.values() for hook in hooks})
)
