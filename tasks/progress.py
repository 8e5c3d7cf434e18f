"""Task state hooks that write live progress, and the one way layer tasks are declared.

``on_running`` / ``on_completion`` / ``on_failure`` write the (run, job, layer) progress row
while the run goes, so ``applyflow status`` and the dashboard see a layer running as it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.states import State

from applyflow.errors import ApplyflowError, BudgetExceeded, GuardError, LayerError, StoreError
from applyflow.models import ProgressRecord, ProgressStatus, utcnow
from tasks.layers import LayerResult, get_run

__all__ = [
    "LAYER_RETRIES",
    "deferral_reason",
    "is_retryable",
    "layer_task",
    "mark",
]

log = logging.getLogger(__name__)

LAYER_RETRIES = 2
LAYER_RETRY_DELAYS_S = [2.0, 8.0]


def deferral_reason(exc: BaseException) -> str | None:
    """Why a guard refusal defers the whole run (wider than one job), else None."""
    if isinstance(exc, BudgetExceeded):
        return None if exc.scope.startswith("job") else str(exc)
    if isinstance(exc, GuardError):
        return str(exc)
    return None


def is_retryable(exc: BaseException) -> bool:
    """Provider and store hiccups are retried; refusals and bad model output are not."""
    if isinstance(exc, (GuardError, LayerError)):
        return False
    return not isinstance(exc, ApplyflowError) or isinstance(exc, StoreError)


def _exception(state: State) -> BaseException | None:
    try:
        value = state.result(raise_on_failure=False)
    except Exception as exc:  # a result that cannot be read is itself the failure
        return exc
    return value if isinstance(value, BaseException) else None


def _retry_condition(task_: Task, task_run: TaskRun, state: State) -> bool:
    exc = _exception(state)
    return exc is None or is_retryable(exc)


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
    """Write one progress row; a finished row counts toward the run's progress artifact."""
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
    if finished:
        ctx.layer_finished()


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
    exc = _exception(state)
    error = str(exc) if exc is not None else (state.message or "failed")
    # A run-wide deferral is not this layer's fault: it will run in a later run.
    status = ProgressStatus.SKIPPED if exc and deferral_reason(exc) else ProgressStatus.FAILED
    mark(*ids, task_.name, status, started_at=_started(task_run), error=error[:1000])


def layer_task(name: str) -> Callable[[Callable[..., LayerResult]], Task[..., LayerResult]]:
    """Declare a layer as a Prefect task: retries with backoff, no retry on refusals, hooks."""

    def decorate(fn: Callable[..., Any]) -> Task[..., LayerResult]:
        return task(
            fn,
            name=name,
            task_run_name=f"{name}-{{job_id}}",
            retries=LAYER_RETRIES,
            retry_delay_seconds=LAYER_RETRY_DELAYS_S,
            retry_jitter_factor=0.5,
            retry_condition_fn=_retry_condition,
            on_running=[_on_running],
            on_completion=[_on_completion],
            on_failure=[_on_failure],
            cache_policy=NO_CACHE,
            persist_result=False,
        )

    return decorate
