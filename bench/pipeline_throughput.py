"""pipeline_throughput: 200 jobs x 5 layers on the offline model, Prefect flow vs a plain loop.

Flow: ``process_jobs`` on Prefect's temporary API (started and warmed up before timing), with
its default job concurrency. Loop: the same claim, the same layer functions (each layer task's
``.fn``) through the same guard (``build_guard``), one job after another, then the same release.
What the loop leaves out is the orchestration: Prefect task runs and their state hooks
(progress rows), the job tasks and the flow's artifacts. Each side gets its own fresh store.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from applyflow.models import Status, utcnow
from applyflow.settings import LAYERS, Settings, get_settings
from applyflow.store import open_store
from bench.postings import posting_records, write_jsonl
from bench.report import quick_mode, report

__all__ = ["main", "prepare", "run_flow", "run_loop"]

NAME = "pipeline_throughput"
PROFILE = Path(__file__).resolve().parent.parent / "samples" / "profile.md"


def prepare(folder: Path, jobs: int, seed: int = 3) -> Settings:
    """Process settings pointed at a fresh store under ``folder`` holding ``jobs`` new jobs."""
    from tasks.ingest import read_source

    os.environ["APPLYFLOW_STORE_URL"] = f"sqlite:///{folder / 'applyflow.db'}"
    os.environ["APPLYFLOW_OUTPUT_DIR"] = str(folder / "output")
    os.environ["APPLYFLOW_PROFILE"] = str(PROFILE)
    os.environ["APPLYFLOW_MODEL"] = "offline"
    get_settings.cache_clear()
    settings = get_settings()
    source = write_jsonl(folder / "postings.jsonl", posting_records(jobs, seed=seed))
    batch = read_source(str(source), settings=settings)
    store = open_store(settings)
    try:
        store.upsert_jobs(batch.postings, utcnow())
    finally:
        store.close()
    return settings


def run_flow(jobs: int) -> dict[str, Any]:
    """Seconds for ``process_jobs`` over the queued jobs; its outcome counts."""
    from flows.pipeline import process_jobs

    start = time.perf_counter()
    summary = process_jobs(limit=jobs)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "ready": summary.counts["ready"], "calls": summary.calls}


def run_loop(settings: Settings, jobs: int) -> dict[str, Any]:
    """Seconds for a plain loop: claim, every layer function through the same guard, release."""
    from flows.jobs import LAYER_TASKS
    from flows.pipeline import build_guard
    from tasks.run import RunContext, register_run, unregister_run

    store = open_store(settings)
    run_id = uuid.uuid4().hex[:12]
    ctx = RunContext(
        run_id=run_id,
        settings=settings,
        store=store,
        guard=build_guard(settings, store, ["offline"]),
        profile=settings.profile.read_text(encoding="utf-8"),
    )
    register_run(ctx)
    ready = 0
    try:
        start = time.perf_counter()
        claimed = store.claim_jobs(jobs, run_id, settings.claim_lease_s, utcnow(), run_id=run_id)
        for job in claimed:
            for layer in LAYERS:
                LAYER_TASKS[layer].fn(run_id=run_id, job_id=job.id)
            ready += store.release_job(job.id, run_id, Status.READY, utcnow())
        seconds = time.perf_counter() - start
        calls = store.usage_total(run_id=run_id).calls
    finally:
        unregister_run(run_id)
        store.close()
    return {"seconds": seconds, "ready": ready, "calls": calls}


def main() -> dict[str, Any]:
    jobs = 20 if quick_mode() else 200
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        root = Path(tmp)
        prepare(root / "warm-flow", 2)
        run_flow(2)  # starts Prefect's temporary API and imports everything before timing
        run_loop(prepare(root / "warm-loop", 2), 2)
        prepare(root / "flow", jobs)
        flow = run_flow(jobs)
        loop = run_loop(prepare(root / "loop", jobs), jobs)
    tasks = jobs * len(LAYERS)
    overhead_ms = (flow["seconds"] - loop["seconds"]) / tasks * 1000
    rows = [
        {"config": "process_jobs (Prefect, temporary API)", "seconds": round(flow["seconds"], 3),
         "jobs_per_s": round(jobs / flow["seconds"], 3), "ready": flow["ready"],
         "model_calls": flow["calls"]},
        {"config": "plain loop, same layers and guard", "seconds": round(loop["seconds"], 3),
         "jobs_per_s": round(jobs / loop["seconds"], 3), "ready": loop["ready"],
         "model_calls": loop["calls"]},
    ]  # fmt: skip
    settings = get_settings()
    return report(
        NAME,
        f"Pipeline throughput: {jobs} jobs x {len(LAYERS)} layers, offline model",
        rows,
        params={
            "jobs": jobs,
            "layers": list(LAYERS),
            "model": "offline",
            "job_concurrency": settings.job_concurrency,
            "store": "sqlite",
        },  # fmt: skip
        summary={
            "flow_to_loop_jobs_per_s_ratio": round(loop["seconds"] / flow["seconds"], 3),
            "orchestration_overhead_ms_per_layer_task": round(overhead_ms, 2),
            "layer_tasks": tasks,
        },
    )


if __name__ == "__main__":
    main()
