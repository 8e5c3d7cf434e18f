"""Pipeline flow ``process_jobs``: claim queued jobs and run each through the five layers.

Per job: extract -> research -> score -> generate -> publish, each a Prefect task (see
``tasks/``; the job driver is ``flows/jobs.py``). Jobs run concurrently
(``APPLYFLOW_JOB_CONCURRENCY``). The flow's steps: check parameters, profile and prices before
claiming anything; start the run; claim; run the jobs; summarise; end the run (or, on an
error, give every claimed job back to the queue and raise a ``flow_failed`` alert).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from applyflow.errors import InputError, PricingError
from applyflow.models import ProfileRef, ProgressStatus, Run, RunStatus, Status
from applyflow.modelspec import OFFLINE, parse_model
from applyflow.profile_check import profile_ref, read_profile
from applyflow.runtime import Runtime, current_runtime
from applyflow.settings import LAYERS, Settings, get_settings
from applyflow.store import Store
from applyflow.store.runs import sweep_dead_runs
from applyflow.tracing import attributes_of
from flows.artifacts import PROGRESS_KEY, SUMMARY_KEY, publish_summary, start_progress
from flows.dry_run import scratch_copy
from flows.hooks import alert_flow_failed
from flows.jobs import run_all
from flows.results import JobOutcome, RunSummary
from flows.selection import QUEUE_STATUSES, check_job_ids, named_statuses, queued_jobs
from guards.call import ModelGuard
from guards.health import effective_guards
from guards.pricing import models_in_use, run_price_problems
from tasks.progress import mark
from tasks.run import RunContext, register_run, unregister_run

__all__ = ["PROGRESS_KEY", "SUMMARY_KEY", "build_guard", "check_run_prices", "process_jobs"]

RUN_ID = re.compile(r"[0-9a-f]{12}")
OUTCOME_COUNTS = (
    Status.READY, Status.NEEDS_REVIEW, Status.SKIPPED, Status.FAILED, Status.OVER_BUDGET,
    Status.NEW,
)  # fmt: skip


def build_guard(
    settings: Settings, store: Store, models: list[str], runtime: Runtime | None = None
) -> ModelGuard:
    """The guarded-call object every layer of this run goes through.

    A run that only calls the in-process offline model takes no ``llm-*`` Prefect slot: there
    is no provider to protect, and each slot costs API round trips per call.
    """
    local_only = all(parse_model(m).provider == OFFLINE for m in models)
    runtime = runtime or current_runtime()
    return ModelGuard(
        settings,
        store,
        model_factory=runtime.model_factory,
        prefect_slots=False if local_only else None,
        tracing=runtime.tracer(),
    )


def check_run_prices(settings: Settings, model: str | None, price_as: str | None) -> None:
    """Fail closed before claiming anything: one ``PricingError`` naming every unpriced model.

    ``model`` replaces the settings' models for every layer (the fallback still applies);
    ``price_as`` is only priced, never called.
    """
    problems = run_price_problems(settings, model, price_as)
    if problems:
        raise PricingError("; ".join(problems))


def _check_params(limit: int, model: str | None, price_as: str | None, min_fit: int | None) -> None:
    if limit < 1:
        raise InputError("process_jobs", "limit", f"must be at least 1, got {limit}")
    if min_fit is not None and not 0 <= min_fit <= 100:
        raise InputError("process_jobs", "min_fit", f"must be 0 to 100, got {min_fit}")
    for what, value in (("model", model), ("price_as", price_as)):
        if value is not None:
            try:
                parse_model(value)
            except ValueError as exc:
                raise InputError("process_jobs", what, str(exc)) from None


def _read_profile(path: Path) -> tuple[str, ProfileRef]:
    """The profile's text (an ``InputError`` naming the path when it cannot be used) and what
    the run records of it."""
    text = read_profile(path)
    return text, profile_ref(path, text)


def new_run_id() -> str:
    """A fresh run id. It is also the flow run's name (``flow_run_name``), so applyflow and
    the Prefect UI call a run the same."""
    return uuid.uuid4().hex[:12]


def _run_id() -> str:
    """The id Prefect named this flow run with (``new_run_id``), else a fresh one."""
    name = flow_run.name or ""
    return name if RUN_ID.fullmatch(name) else new_run_id()


def _claim(ctx: RunContext, limit: int, job_ids: list[str] | None) -> list[str]:
    """Claim the run's jobs with every layer pending: up to ``limit`` queued ones, or every
    named one whatever its status (an application only with ``force``, held in its status)."""
    jobs = ctx.store.claim_jobs(
        len(job_ids) if job_ids else limit,
        ctx.run_id,
        ctx.settings.claim_lease_s,
        ctx.runtime.clock(),
        run_id=ctx.run_id,
        job_ids=job_ids,
        statuses=named_statuses(ctx.force) if job_ids else QUEUE_STATUSES,
    )
    claimed = [job.id for job in jobs]
    for job in jobs:
        ctx.hold(job.id, job.status)
        ctx.job_names[job.id] = f"{job.title} @ {job.company}"
        for layer in LAYERS:
            mark(ctx.run_id, job.id, layer, ProgressStatus.PENDING)
    if job_ids and (busy := [j for j in dict.fromkeys(job_ids) if j not in claimed]):
        get_run_logger().warning("not taken, another run holds them: %s", ", ".join(busy))
    return claimed


def _summarise(ctx: RunContext, outcomes: list[JobOutcome]) -> RunSummary:
    counts = {s.value: 0 for s in OUTCOME_COUNTS}
    for item in outcomes:
        counts[item.status.value] = counts.get(item.status.value, 0) + 1
    spend = ctx.store.usage_total(run_id=ctx.run_id)
    return RunSummary(
        run_id=ctx.run_id,
        flow_run_id=str(flow_run.id) if flow_run.id else None,
        status=RunStatus.STOPPED if ctx.stopped else RunStatus.COMPLETED,
        stop_reason=ctx.stop_reason,
        model=ctx.model or ctx.settings.model,
        jobs=outcomes,
        counts=counts,
        calls=spend.calls,
        input_tokens=spend.input_tokens,
        output_tokens=spend.output_tokens,
        spend_usd=round(spend.cost_usd, 6),
        price_as=ctx.price_as,
        forecast_usd=round(ctx.forecast_usd, 6) if ctx.price_as or ctx.dry_run else None,
        dry_run=ctx.dry_run,
        min_fit=ctx.min_fit,
        saved_usd=round(sum(ctx.job_savings.values()), 6),
        profile=ctx.profile_ref,
    )


def _give_back(ctx: RunContext, claimed: list[str], exc: BaseException) -> None:
    """A failed run: alert, and every job it still holds goes back to the queue."""
    message = f"run {ctx.run_id} failed: {exc}"[:1000]
    alert_flow_failed(ctx.settings, ctx.store, f"flow:process-jobs:{ctx.run_id}", message)
    for job_id in claimed:
        now = ctx.runtime.clock()
        status = ctx.end_status(job_id, Status.NEW)
        ctx.store.release_job(job_id, ctx.run_id, status, now, error=f"run failed: {exc}")


def _start(
    settings: Settings,
    runtime: Runtime,
    stores: tuple[Store, Store],
    profile: tuple[str, ProfileRef],
    options: dict[str, Any],
) -> tuple[RunContext, Run]:
    """Build the run's guard and context, save its ``Run`` row, register it.

    ``stores``: where the jobs are worked on, and where the run's row goes (the same store,
    except in a dry run). ``options``: the flow's parameters.
    """
    work, runs = stores
    chosen, dry_run = options["model"], options["dry_run"]
    started = runtime.clock()
    if not dry_run:  # a forecast changes nothing but adds its own run
        for dead in sweep_dead_runs(runs, started, settings.claim_lease_s):
            get_run_logger().warning("run %s stopped without ending: marked crashed", dead)
    models = [OFFLINE] if dry_run else [chosen] if chosen else models_in_use(settings)
    run_id, flow_run_id = _run_id(), str(flow_run.id) if flow_run.id else None
    ctx = RunContext(
        run_id=run_id,
        settings=settings,
        store=work,
        guard=build_guard(settings, work, models, runtime),
        span=runtime.tracer().start(
            "run process-jobs",
            attributes=attributes_of(
                {
                    "applyflow.run_id": run_id,
                    "prefect.flow_run.id": flow_run_id,
                    "applyflow.model": chosen or settings.model,
                    "applyflow.force": options["force"],
                    "applyflow.dry_run": dry_run,
                }
            ),
        ),  # fmt: skip
        profile=profile[0],
        profile_ref=profile[1],
        model=chosen,
        force=options["force"],
        price_as=options["price_as"],
        dry_run=dry_run,
        run_store=runs if dry_run else None,
        min_fit=options["min_fit"],
        runtime=runtime,
    )
    run = Run(
        id=ctx.run_id,
        flow_run_id=flow_run_id,
        flow_run_name=flow_run.name or None,
        started_at=started,
        heartbeat_at=started,
        model=chosen or settings.model,
        dry_run=dry_run,
        params=options,
        profile=profile[1],
        # What this worker's guards enforce, for the dashboard's Health page (no secrets).
        guards=effective_guards(
            settings, sorted({parse_model(m).provider for m in models})
        ).model_dump(mode="json"),
    )
    runs.save_run(run)
    ctx.guard.waits = ctx.waiting  # the run's Run row shows where its calls wait
    register_run(ctx)
    return ctx, run


def _run(ctx: RunContext, run: Run, limit: int, job_ids: list[str] | None) -> RunSummary:
    """Claim, run every job, summarise; a failure gives the claimed jobs back."""
    claimed: list[str] = []
    try:
        claimed = _claim(ctx, limit, job_ids)
        get_run_logger().info("run %s claimed %d job(s)", ctx.run_id, len(claimed))
        progress = start_progress(ctx.run_id, LAYERS, {j: ctx.job_label(j) for j in claimed})
        ctx.on_progress = progress.update  # written by its own thread, coalesced
        try:
            outcomes = run_all(ctx, claimed)
        finally:
            progress.close()
        summary = _summarise(ctx, outcomes)
        publish_summary(summary)
        run.status = summary.status
        run.summary = summary.model_dump(mode="json", exclude={"jobs"})
        ctx.span.set({"applyflow.jobs": len(summary.jobs), "applyflow.spend_usd": summary.spend_usd,
                      "applyflow.status": summary.status.value})  # fmt: skip
        return summary
    except BaseException as exc:
        ctx.span.fail(exc)
        run.status = RunStatus.FAILED
        run.summary = {"error": str(exc)[:1000]}
        _give_back(ctx, claimed, exc)
        raise
    finally:
        run.ended_at = ctx.runtime.clock()
        ctx.runs.save_run(run)
        unregister_run(ctx.run_id)
        ctx.span.end()


@flow(
    name="process-jobs",
    flow_run_name=new_run_id,
    task_runner=ThreadPoolTaskRunner(max_workers=64),
)
def process_jobs(
    limit: int = 20,
    model: str | None = None,
    job_ids: list[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    price_as: str | None = None,
    min_fit: int | None = None,
    profile: str | None = None,
) -> RunSummary:
    """Process up to ``limit`` queued jobs through extract, research, score, generate, publish.

    model: provider:model for every layer (default: APPLYFLOW_MODEL and per-layer overrides).
    job_ids: exactly these jobs, whatever their status (limit does not apply); an application
        (applied or later) only with force, and it keeps its status.
    force: redo layers even when their stored output is up to date.
    dry_run: a forecast that changes nothing: the same jobs on a scratch copy, every call to
        the offline model priced as price_as (else as the layer's model), no files; recorded
        as a run marked dry_run.
    price_as: also price every call as this model (the forecast of a real run).
    min_fit: a job scoring below stops after score as skipped (None: APPLYFLOW_MIN_FIT; 0:
        off); named jobs (job_ids) always go on.
    profile: the candidate profile's path (default: APPLYFLOW_PROFILE).
    """
    settings, runtime = get_settings(), current_runtime()
    _check_params(limit, model, price_as, min_fit)
    used = _read_profile(Path(profile) if profile else settings.profile)
    # A dry run prices the run's own models, so they must be priced too.
    check_run_prices(settings, model, price_as)
    # The fit gate in force: none for named jobs (`run --job ID` overrides it).
    gate = 0 if job_ids else settings.min_fit if min_fit is None else min_fit
    params = {"limit": limit, "model": model, "job_ids": job_ids, "force": force,
              "dry_run": dry_run, "price_as": price_as, "min_fit": gate,
              "profile": profile}  # fmt: skip
    store = runtime.store_factory(settings.store_url)
    try:
        named = check_job_ids(store, job_ids, force) if job_ids else None
        if not dry_run:
            ctx, run = _start(settings, runtime, (store, store), used, params)
            return _run(ctx, run, limit, job_ids)
        jobs = named if named is not None else queued_jobs(store, limit)
        with scratch_copy(settings, jobs) as (scratch_settings, scratch):
            ctx, run = _start(scratch_settings, runtime, (scratch, store), used, params)
            return _run(ctx, run, limit, job_ids)
    finally:
        store.close()
