"""kill -9 a worker mid-layer: its claim and reservation expire, its run is marked crashed, and a
rerun finishes the job once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from applyflow.models import ProgressStatus, RunStatus, Status, utcnow
from applyflow.runtime import Runtime, use_runtime
from flows.pipeline import process_jobs
from tests.reliability.conftest import ROOT, Pipeline, provider_settings
from tests.waiting import wait_for_process

DEADLINE_S = 120.0
CLAIM_LEASE_S, BUDGET_LEASE_S = 10, 5  # the smallest leases settings allow


def _worker_env(pipeline: Pipeline) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLYFLOW_")}
    values = provider_settings(
        pipeline.fake,
        pipeline.tmp,
        claim_lease_s=CLAIM_LEASE_S,
        budget_lease_s=BUDGET_LEASE_S,
        model_timeout_s=60,  # the hang must outlive the kill, not time out
    )
    env.update({f"APPLYFLOW_{k.upper()}": str(v) for k, v in values.items()})
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())  # the session's test harness
    return env


def test_killed_worker_mid_layer_resumes_without_paying_twice(pipeline: Pipeline):
    [job_id] = pipeline.add_jobs(1)
    title = pipeline.title(job_id)
    # The worker's score call hangs at the provider until the worker is killed.
    pipeline.fake.on(lambda r: r.title == title and r.layer == "score", "hang", times=1)
    log = pipeline.tmp / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "applyflow"), "run", "--limit", "5"],
            cwd=ROOT,
            env=_worker_env(pipeline),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def score_running() -> bool:
            runs = pipeline.store.list_runs(1)
            rows = pipeline.store.list_progress(runs[0].id) if runs else []
            running = {(r.layer, r.status) for r in rows} >= {("score", ProgressStatus.RUNNING)}
            return running and pipeline.fake.state.hanging.is_set()

        what = "the score layer to be running"
        wait_for_process(score_running, what, worker, log, "worker", timeout=DEADLINE_S)
        held = pipeline.store.get_job(job_id)
        assert held.status == Status.PROCESSING and held.claimed_by
        assert pipeline.store.open_reservations(utcnow()) == 1
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    assert worker.returncode == -signal.SIGKILL

    # Right now the dead worker still holds both; once the leases pass, neither is held.
    [dead_run] = pipeline.store.list_runs(1)
    assert dead_run.status == RunStatus.RUNNING and dead_run.heartbeat_at is not None
    now = utcnow()
    later = now + timedelta(seconds=CLAIM_LEASE_S + 1)
    assert pipeline.store.claim_jobs(1, "another-worker", 60, now) == []
    assert pipeline.store.open_reservations(now) == 1
    assert pipeline.store.open_reservations(later) == 0
    assert pipeline.store.scope_states(["total"], later)["total"].reserved == 0
    paid_before = pipeline.store.usage_total(job_id=job_id)
    assert paid_before.calls == 2  # extract and research were billed before the crash

    # The rerun (configured as the dead worker was) sees the claim expired (a later "now").
    pipeline.set(claim_lease_s=CLAIM_LEASE_S, budget_lease_s=BUDGET_LEASE_S)
    with use_runtime(Runtime(clock=lambda: utcnow() + timedelta(seconds=60))):
        summary = process_jobs(limit=5)
    assert [(j.id, j.status) for j in summary.jobs] == [(job_id, "ready")]
    # The rerun found the dead run silent past the lease and marked it crashed, at its last
    # heartbeat (the score layer's start), not at the rerun's "now".
    crashed = pipeline.store.get_run(dead_run.id)
    assert (crashed.status, crashed.ended_at) == (RunStatus.CRASHED, dead_run.heartbeat_at)
    assert pipeline.store.get_run(summary.run_id).status == RunStatus.COMPLETED
    progress = {r.layer: r.status for r in pipeline.store.list_progress(summary.run_id)}
    assert progress["extract"] == progress["research"] == ProgressStatus.CACHED

    seen = Counter(r.layer for r in pipeline.fake.requests if r.title == title)
    assert seen == Counter({"extract": 1, "research": 1, "score": 2, "generate": 1})
    by_layer = {g.key: g.calls for g in pipeline.store.spend_by("layer")}
    assert by_layer == {"extract": 1, "research": 1, "score": 1, "generate": 1}
    assert pipeline.store.usage_total().calls == len(pipeline.fake.billed()) == 4
    # The dead worker's reservation was never settled: it expired, and only it.
    assert pipeline.store.expire_reservations(utcnow() + timedelta(seconds=BUDGET_LEASE_S + 1)) == 1
    assert pipeline.store.open_reservations(utcnow()) == 0
