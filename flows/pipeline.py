"""Pipeline flow ``process_jobs``: claim queued jobs and run each through the five layers.

Per job: extract -> research -> score -> generate -> publish, each a Prefect task (see
``tasks/``). Jobs run concurrently (``APPLYFLOW_JOB_CONCURRENCY``). A job ends ``ready``,
``failed`` (the error names the layer), ``over_budget`` (its own cap), or back to ``new`` when a
wider limit (run/day/month/total budget, rate limit, open breaker) stopped the run; such a stop
ends the run early and returns the claimed jobs that had not started to ``new``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from applyflow.errors import ApplyflowError, BudgetExceeded, InputError, LayerError, PricingError
from applyflow.models import ProgressStatus, Run, RunStatus, Status, utcnow
from applyflow.modelspec import OFFLINE, parse_model
from applyflow.settings import LAYERS, Settings, get_settings
from applyflow.store import Store, open_store
from flows.hooks import alert_flow_failed
from guards.call import ModelGuard
from guards.pricing import check_prices, models_in_use, price_of
from tasks.extract import extract
from tasks.generate import generate
from tasks.layers import RunContext, get_run, register_run, unregister_run
from tasks.progress import deferral_reason, mark
from tasks.publish import publish
from tasks.research import research
from tasks.score import score

__all__ = ["PROGRESS_KEY", "SUMMARY_KEY", "build_guard", "check_run_prices", "process_jobs"]

PROGRESS_KEY = "process-jobs-progress"
SUMMARY_KEY = "process-jobs-summary"
LAYER_TASKS = dict(zip(LAYERS, (extract, research, score, generate, publish), strict=True))
# Replaced by tests (and usable by embedders) to serve models from elsewhere; None = default.
model_factory: Callable[[str, int], BaseChatModel] | None = None


def _models(settings: Settings, chosen: str | None) -> list[str]:
    return [chosen] if chosen else models_in_use(settings)


def build_guard(settings: Settings, store: Store, models: list[str]) -> ModelGuard:
    """The guarded-call object every layer of this run goes through.

    A run that only calls the in-process offline model takes no ``llm-*`` Prefect slot: there
    is no provider to protect, and each slot costs API round trips per call.
    """
    local_only = all(parse_model(m).provider == OFFLINE for m in models)
    return ModelGuard(
        settings, store, model_factory=model_factory, prefect_slots=False if local_only else None
    )


def _outcome(ctx: RunContext, job_id: str, status: Status, error: str | None) -> dict[str, Any]:
    job = ctx.store.get_job(job_id)
    published = job.outputs.get("publish")
    return {
        "id": job_id,
        "title": job.title,
        "company": job.company,
        "status": status.value,
        "fit": job.fit,
        "cost_usd": round(ctx.store.usage_total(run_id=ctx.run_id, job_id=job_id).cost_usd, 6),
        "error": error,
        "files": published.output.get("files", []) if published and status == Status.READY else [],
    }


def _finish(
    ctx: RunContext, job_id: str, status: Status, skipped: tuple[str, ...], error: str | None
) -> dict[str, Any]:
    """Mark the layers that will not run, end the claim, and describe the job."""
    for layer in skipped:
        mark(ctx.run_id, job_id, layer, ProgressStatus.SKIPPED, error=error)
    ctx.store.release_job(job_id, ctx.run_id, status, utcnow(), error=error)
    return _outcome(ctx, job_id, status, error)


def _fail_unfinished(ctx: RunContext, job_id: str, error: str) -> dict[str, Any]:
    """A job whose driver broke: its unfinished layers fail with the error, then the job."""
    unfinished = (ProgressStatus.PENDING, ProgressStatus.RUNNING)
    for row in ctx.store.list_progress(ctx.run_id):
        if row.job_id == job_id and row.status in unfinished:
            mark(ctx.run_id, job_id, row.layer, ProgressStatus.FAILED, error=error)
    return _finish(ctx, job_id, Status.FAILED, (), error)


@task(name="job", task_run_name="job-{job_id}", cache_policy=NO_CACHE, persist_result=False)
def process_job(run_id: str, job_id: str) -> dict[str, Any]:
    """Run one job through every layer, then end its claim with the outcome."""
    ctx = get_run(run_id)
    for index, (name, layer_task) in enumerate(LAYER_TASKS.items()):
        if ctx.stopped:
            return _finish(ctx, job_id, Status.NEW, LAYERS[index:], f"deferred: {ctx.stop_reason}")
        lease = ctx.settings.claim_lease_s
        if not ctx.store.renew_lease(job_id, run_id, lease, utcnow()):
            # The user discarded it or the lease passed to another worker: theirs now.
            for layer in LAYERS[index:]:
                mark(run_id, job_id, layer, ProgressStatus.SKIPPED, error="claim lost")
            return _outcome(ctx, job_id, ctx.store.get_job(job_id).status, "claim lost")
        try:
            layer_task(run_id=run_id, job_id=job_id)
        except Exception as exc:
            rest = LAYERS[index + 1 :]
            if reason := deferral_reason(exc):
                ctx.stop(reason)
                return _finish(ctx, job_id, Status.NEW, rest, f"deferred: {reason}")
            # A foreign error's type says what broke (OpenAITimeoutError, JSONDecodeError...).
            why = str(exc) if isinstance(exc, ApplyflowError) else f"{type(exc).__name__}: {exc}"
            error = str(exc) if isinstance(exc, LayerError) else f"{name} layer failed: {why}"
            status = Status.OVER_BUDGET if isinstance(exc, BudgetExceeded) else Status.FAILED
            return _finish(ctx, job_id, status, rest, error)
    return _finish(ctx, job_id, Status.READY, (), None)


class _ProgressArtifact:
    """Percent of layer tasks finished, kept in one Prefect progress artifact."""

    def __init__(self, total: int, run_id: str) -> None:
        self.total, self.done = max(total, 1), 0
        self._lock = threading.Lock()
        self._last = 0.0
        self.id = create_progress_artifact(
            progress=0.0, key=PROGRESS_KEY, description=f"Layers finished in run {run_id}"
        )

    def tick(self) -> None:
        with self._lock:
            self.done += 1
            now = time.monotonic()
            # At most a few updates a second; the final value is always written by close().
            if now - self._last >= 0.25:
                self._last = now
                update_progress_artifact(self.id, self.percent)

    @property
    def percent(self) -> float:
        return round(min(100.0, 100.0 * self.done / self.total), 1)

    def close(self) -> None:
        with self._lock:
            update_progress_artifact(self.id, self.percent)


def _run_all(ctx: RunContext, job_ids: list[str]) -> list[dict[str, Any]]:
    """Submit jobs, at most ``job_concurrency`` at once; stop submitting once the run stops."""
    pending, running = list(job_ids), {}
    outcomes: list[dict[str, Any]] = []
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


def _summary(ctx: RunContext, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {s: 0 for s in ("ready", "failed", "over_budget", "new")}
    for item in outcomes:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
    spend = ctx.store.usage_total(run_id=ctx.run_id)
    return {
        "run_id": ctx.run_id,
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "status": (RunStatus.STOPPED if ctx.stopped else RunStatus.COMPLETED).value,
        "stop_reason": ctx.stop_reason,
        "model": ctx.model or ctx.settings.model,
        "jobs": outcomes,
        "counts": counts,
        "calls": spend.calls,
        "input_tokens": spend.input_tokens,
        "output_tokens": spend.output_tokens,
        "spend_usd": round(spend.cost_usd, 6),
        "price_as": ctx.price_as,
        "forecast_usd": round(ctx.forecast_usd, 6) if ctx.price_as else None,
    }


def _check_params(limit: int, model: str | None, price_as: str | None) -> None:
    if limit < 1:
        raise InputError("process_jobs", "limit", f"must be at least 1, got {limit}")
    for what, value in (("model", model), ("price_as", price_as)):
        if value is not None:
            try:
                parse_model(value)
            except ValueError as exc:
                raise InputError("process_jobs", what, str(exc)) from None


def check_run_prices(settings: Settings, model: str | None, price_as: str | None) -> None:
    """Fail closed before claiming anything: one ``PricingError`` naming every unpriced model.

    ``model`` replaces the settings' models for every layer (the fallback still applies);
    ``price_as`` is only priced, never called.
    """
    problems: list[str] = []
    if model is None:
        try:
            check_prices(settings)
        except PricingError as exc:
            problems.append(str(exc))
    explicit = [model, settings.fallback_model] if model else []
    for spec in dict.fromkeys(m for m in [*explicit, price_as] if m):
        try:
            price_of(settings, spec)
        except PricingError as exc:
            problems.append(str(exc))
    if problems:
        raise PricingError("; ".join(problems))


def _read_profile(settings: Settings) -> str:
    try:
        text = settings.profile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            str(settings.profile),
            None,
            f"cannot read the candidate profile (APPLYFLOW_PROFILE): {exc}",
        ) from None
    if not text.strip():
        raise InputError(str(settings.profile), None, "the candidate profile is empty")
    return text


@flow(name="process-jobs", task_runner=ThreadPoolTaskRunner(max_workers=64))
def process_jobs(
    limit: int = 20,
    model: str | None = None,
    job_ids: list[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    price_as: str | None = None,
) -> dict[str, Any]:
    """Process up to ``limit`` queued jobs through extract, research, score, generate, publish.

    model: provider:model for every layer (default: APPLYFLOW_MODEL and per-layer overrides).
    job_ids: only these jobs; failed and over-budget ones are retried when named.
    force: redo layers even when their stored output is up to date.
    dry_run: use the offline model (no spend); with price_as, forecast that model's cost.
    """
    settings = get_settings()
    logger = get_run_logger()
    _check_params(limit, model, price_as)
    profile = _read_profile(settings)
    chosen = OFFLINE if dry_run else model
    check_run_prices(settings, chosen, price_as)
    store = open_store(settings)
    run_id = uuid.uuid4().hex[:12]
    ctx = RunContext(
        run_id=run_id,
        settings=settings,
        store=store,
        guard=build_guard(settings, store, _models(settings, chosen)),
        profile=profile,
        model=chosen,
        force=force,
        price_as=price_as,
    )
    params = {"limit": limit, "model": model, "job_ids": job_ids, "force": force}
    params |= {"dry_run": dry_run, "price_as": price_as}
    run = Run(
        id=run_id,
        flow_run_id=str(flow_run.id) if flow_run.id else None,
        started_at=utcnow(),
        model=chosen or settings.model,
        params=params,
    )
    store.save_run(run)
    register_run(ctx)
    claimed: list[str] = []
    try:
        statuses = (Status.NEW, Status.FAILED, Status.OVER_BUDGET) if job_ids else (Status.NEW,)
        jobs = store.claim_jobs(
            limit,
            run_id,
            settings.claim_lease_s,
            utcnow(),
            run_id=run_id,
            job_ids=job_ids,
            statuses=statuses,
        )
        claimed = [job.id for job in jobs]
        logger.info("run %s claimed %d job(s)", run_id, len(claimed))
        for job_id in claimed:
            for layer in LAYERS:
                mark(run_id, job_id, layer, ProgressStatus.PENDING)
        progress = _ProgressArtifact(len(claimed) * len(LAYERS), run_id)
        ctx.on_layer_finished = progress.tick
        outcomes = _run_all(ctx, claimed)
        progress.close()
        summary = _summary(ctx, outcomes)
        create_table_artifact(
            table=[
                {k: o[k] for k in ("id", "title", "company", "fit", "status", "cost_usd")}
                for o in outcomes
            ]
            or [{"id": "", "title": "no jobs were queued", "company": "", "fit": None}],
            key=SUMMARY_KEY,
            description=f"Run {run_id}: {summary['counts']} spend ${summary['spend_usd']:.4f}",
        )
        run.status = RunStatus(summary["status"])
        run.summary = {k: v for k, v in summary.items() if k != "jobs"}
        return summary
    except BaseException as exc:
        run.status = RunStatus.FAILED
        run.summary = {"error": str(exc)[:1000]}
        message = f"run {run_id} failed: {exc}"[:1000]
        alert_flow_failed(settings, store, f"flow:process-jobs:{run_id}", message)
        for job_id in claimed:  # whatever this run still holds goes back to the queue
            store.release_job(job_id, run_id, Status.NEW, utcnow(), error=f"run failed: {exc}")
        raise
    finally:
        run.ended_at = utcnow()
        store.save_run(run)
        unregister_run(run_id)
        store.close()
