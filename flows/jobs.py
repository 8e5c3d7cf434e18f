"""One job through the five layers, as the ``job`` task of a pipeline run; and running many.

A job ends ``ready``, ``needs_review`` (its documents make claims the profile does not support),
``failed`` (the error names the layer), ``over_budget`` (its own cap), or back to ``new`` when a
wider limit (run/day/month/total budget, rate limit, open breaker) stopped
the run; such a stop ends the run early and returns the claimed jobs that had not started.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed

from applyflow.errors import ApplyflowError, BudgetExceeded, LayerError
from applyflow.models import ProgressStatus, Status
from applyflow.settings import LAYERS
from flows.results import JobOutcome
from tasks.extract import extract
from tasks.generate import generate
from tasks.progress import mark
from tasks.publish import publish
from tasks.research import research
from tasks.run import RunContext, deferral_reason, get_run
from tasks.score import score

__all__ = ["LAYER_TASKS", "process_job", "run_all"]

LAYER_TASKS = dict(zip(LAYERS, (extract, research, score, generate, publish), strict=True))


def _outcome(ctx: RunContext, job_id: str, status: Status, error: str | None) -> JobOutcome:
    job = ctx.store.get_job(job_id)
    written = status in (Status.READY, Status.NEEDS_REVIEW)
    return JobOutcome(
        id=job_id,
        title=job.title,
        company=job.company,
        status=status,
        fit=job.fit,
        cost_usd=round(ctx.store.usage_total(run_id=ctx.run_id, job_id=job_id).cost_usd, 6),
        error=error,
        files=job.files if written else [],
        unsupported_claims=job.unsupported_claims if written else [],
    )


def _finish(
    ctx: RunContext, job_id: str, status: Status, skipped: tuple[str, ...], error: str | None
) -> JobOutcome:
    """Mark the layers that will not run, end the claim, and describe the job."""
    for layer in skipped:
        mark(ctx.run_id, job_id, layer, ProgressStatus.SKIPPED, error=error)
    if not ctx.store.release_job(job_id, ctx.run_id, status, ctx.runtime.clock(), error=error):
        # Someone else changed it meanwhile (a user's mark, a changed posting): theirs wins.
        status = ctx.store.get_job(job_id).status
    return _outcome(ctx, job_id, status, error)


def _fail_unfinished(ctx: RunContext, job_id: str, error: str) -> JobOutcome:
    """A job whose driver broke: its unfinished layers fail with the error, then the job."""
    unfinished = (ProgressStatus.PENDING, ProgressStatus.RUNNING)
    for row in ctx.store.list_progress(ctx.run_id):
        if row.job_id == job_id and row.status in unfinished:
            mark(ctx.run_id, job_id, row.layer, ProgressStatus.FAILED, error=error)
    return _finish(ctx, job_id, Status.FAILED, (), error)


def _failed_layer(ctx: RunContext, job_id: str, index: int, exc: Exception) -> JobOutcome:
    """End a job whose layer ``index`` raised: deferred, over its budget, or failed."""
    name, rest = LAYERS[index], LAYERS[index + 1 :]
    if reason := deferral_reason(exc):
        ctx.stop(reason)
        return _finish(ctx, job_id, Status.NEW, rest, f"deferred: {reason}")
    # A foreign error's type says what broke (OpenAITimeoutError, JSONDecodeError...).
    why = str(exc) if isinstance(exc, ApplyflowError) else f"{type(exc).__name__}: {exc}"
    error = str(exc) if isinstance(exc, LayerError) else f"{name} layer failed: {why}"
    status = Status.OVER_BUDGET if isinstance(exc, BudgetExceeded) else Status.FAILED
    return _finish(ctx, job_id, status, rest, error)


@task(name="job", task_run_name="job-{job_id}", cache_policy=NO_CACHE, persist_result=False)
def process_job(run_id: str, job_id: str) -> JobOutcome:
    """Run one job through every layer, then end its claim with the outcome."""
    ctx = get_run(run_id)
    ids = {"applyflow.run_id": run_id, "applyflow.job_id": job_id}
    # The run's span comes from the flow's thread; this job's goes to its layers' tasks.
    with ctx.runtime.tracer().span(f"job {job_id}", parent=ctx.span, attributes=ids) as span:
        ctx.job_spans[job_id] = span
        try:
            outcome = _drive(ctx, run_id, job_id)
        finally:
            ctx.job_spans.pop(job_id, None)
        span.set({"applyflow.job.status": outcome.status.value,
                  "applyflow.cost_usd": outcome.cost_usd})  # fmt: skip
        return outcome


def _drive(ctx: RunContext, run_id: str, job_id: str) -> JobOutcome:
    for index, layer_task in enumerate(LAYER_TASKS.values()):
        if ctx.stopped:
            return _finish(ctx, job_id, Status.NEW, LAYERS[index:], f"deferred: {ctx.stop_reason}")
        lease, now = ctx.settings.claim_lease_s, ctx.runtime.clock()
        ctx.store.touch_run(run_id, now)  # the run's heartbeat, renewed with its claims
        if not ctx.store.renew_lease(job_id, run_id, lease, now):
            # The user discarded it or the lease passed to another worker: theirs now.
            for layer in LAYERS[index:]:
                mark(run_id, job_id, layer, ProgressStatus.SKIPPED, error="claim lost")
            return _outcome(ctx, job_id, ctx.store.get_job(job_id).status, "claim lost")
        try:
            layer_task(run_id=run_id, job_id=job_id)
        except Exception as exc:
            return _failed_layer(ctx, job_id, index, exc)
    # Documents whose claims the profile does not support wait for a person to read them.
    claims = ctx.store.get_job(job_id).unsupported_claims
    return _finish(ctx, job_id, Status.NEEDS_REVIEW if claims else Status.READY, (), None)


def run_all(ctx: RunContext, job_ids: list[str]) -> list[JobOutcome]:
    """Submit jobs, at most ``job_concurrency`` at once; stop submitting once the run stops."""
    pending, running = list(job_ids), {}
    outcomes: list[JobOutcome] = []
    while pending or running:
        while pending and len(running) < ctx.settings.job_concurrency and not ctx.stopped:
            job_id = pending.pop(0)
            running[process_job.submit(run_id=ctx.run_id, job_id=job_id)] = job_id
        if not running:
            break
        future: PrefectFuture = next(as_completed(list(running)))
        job_id = running.pop(future)
        try:
            outcomes.append(future.result())
        except Exception as exc:  # the job driver itself broke (e.g. the store went away)
            outcomes.append(_fail_unfinished(ctx, job_id, f"job failed: {exc}"))
    for job_id in pending:  # claimed but never started: back to the queue
        outcomes.append(_finish(ctx, job_id, Status.NEW, LAYERS, f"deferred: {ctx.stop_reason}"))
    return outcomes
