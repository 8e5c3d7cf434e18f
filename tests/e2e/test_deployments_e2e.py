"""Worker mode against a real Prefect server: `applyflow setup`, `prefect deploy --all` from
prefect.yaml, `prefect worker start --pool applyflow`, runs triggered with `run_deployment`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from applyflow.models import ProgressStatus, Status
from applyflow.settings import LAYERS
from flows.deployments import DEPLOYMENTS, PROJECT_DIR, WORK_POOL
from tests.e2e._helpers import (
    APPLYFLOW,
    PREFECT,
    TIMEZONE,
    Workspace,
    api,
    deployment,
    progress_artifact,
    sample_states,
    settled_layer_runs,
    wait_final,
)
from tests.e2e.conftest import PrefectServer, Proc
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

JOBS = 20
PARALLEL = "e2e-parallel"  # process_jobs with no deployment limit, for the two-worker test


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """`applyflow setup` then `prefect deploy --all`, as the quickstart does."""
    ws = Workspace(prefect_server, tmp_path_factory.mktemp("deploy"))
    env = ws.env(APPLYFLOW_SOURCES="samples/postings.json")
    prefect_server.run([APPLYFLOW, "setup"], env)
    prefect_server.run([PREFECT, "--no-prompt", "deploy", "--all"], env)
    prefect_server.run(
        [
            PREFECT,
            "--no-prompt",
            "deploy",
            "flows/pipeline.py:process_jobs",
            "--name",
            PARALLEL,
            "--pool",
            WORK_POOL,
        ],
        env,
    )
    return ws


def start_worker(ws: Workspace, name: str, *args: str, **env: str) -> Proc:
    """A worker on the pool, returned once it says it started (so it polls from now on)."""
    proc = ws.server.start(
        name,
        [PREFECT, "worker", "start", "--pool", WORK_POOL, "--name", name, *args],
        ws.env(**env),
    )

    def started() -> bool:
        assert proc.alive(), f"worker {name} exited:\n{proc.output()}"
        return f"Worker '{name}' started!" in proc.output(tail=100_000)

    wait_until(started, f"worker {name} to start", timeout=60, interval=0.25)
    return proc


@dataclass
class QueueRun:
    """One `process-queue` run of JOBS jobs through one worker."""

    ws: Workspace
    job_ids: list[str]
    flow_run: FlowRun
    worker_log: str


@pytest.fixture(scope="module")
def queue_run(deployed: Workspace, tmp_path_factory: pytest.TempPathFactory) -> QueueRun:
    ws = Workspace(deployed.server, tmp_path_factory.mktemp("queue"))
    job_ids = ws.add_jobs(JOBS, "queue")
    worker = start_worker(ws, "worker-single")
    try:
        with api(ws.server) as client:
            queue = deployment(client, "process-queue")
            started = run_deployment(queue.id, timeout=0, parameters={"limit": JOBS})
            run = wait_final(client, started.id, worker.output())
    finally:
        worker.stop()
    return QueueRun(ws, job_ids, run, worker.output())


def test_deploy_all_creates_three_scheduled_deployments(deployed: Workspace) -> None:
    with api(deployed.server) as client:
        found = {item.name: deployment(client, item.name) for item in DEPLOYMENTS}
        pool = client.read_work_pool(WORK_POOL)
    assert pool.type == "process"

    for item in DEPLOYMENTS:
        got = found[item.name]
        assert got.work_pool_name == WORK_POOL, item.name
        assert got.entrypoint == item.entrypoint, item.name
        (schedule,) = got.schedules
        assert schedule.active, item.name
        # The time zone comes from APPLYFLOW_TIMEZONE through the build step.
        assert schedule.schedule.timezone == TIMEZONE, item.name
        assert got.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_DIR)}}
        ], item.name

    ingest, queue, report = found["ingest"], found["process-queue"], found["daily-report"]
    assert ingest.schedules[0].schedule.interval.total_seconds() == 3600
    assert ingest.parameters == {"sources": ["samples/postings.json"]}
    assert queue.schedules[0].schedule.cron == "*/30 * * * *"
    assert report.schedules[0].schedule.cron == "0 18 * * *"

    assert queue.global_concurrency_limit is not None
    assert queue.global_concurrency_limit.limit == 1
    assert queue.concurrency_options.collision_strategy.value == "ENQUEUE"
    assert ingest.global_concurrency_limit is None
    assert report.global_concurrency_limit is None
    # Every flow parameter is in the UI form.
    form = set(queue.parameter_openapi_schema["properties"])
    assert form == {"limit", "model", "job_ids", "force", "dry_run", "price_as"}


def test_process_queue_through_a_worker(queue_run: QueueRun) -> None:
    ws, job_ids, run = queue_run.ws, queue_run.job_ids, queue_run.flow_run
    assert run.state_name == "Completed", queue_run.worker_log
    expected = {f"{layer}-{job_id}" for layer in LAYERS for job_id in job_ids}
    with api(ws.server) as client:
        by_name = settled_layer_runs(client, run.id, expected)
        percent = progress_artifact(client, run.id)
    assert set(by_name) == expected
    for name, runs in by_name.items():
        assert [r.state_name for r in runs] == ["Completed"], name
    assert percent == 100

    rows = ws.progress(ws.run_of(run.id).id)
    assert Counter((r.job_id, r.layer) for r in rows) == Counter(
        (job_id, layer) for job_id in job_ids for layer in LAYERS
    )
    assert {r.status for r in rows} == {ProgressStatus.COMPLETED}
    with ws.store() as store:
        assert {store.get_job(job_id).status for job_id in job_ids} == {Status.READY}
    calls = ws.usage_rows(job_ids)
    assert min(calls.values()) > 0 and len(set(calls.values())) == 1, calls
    assert ws.total_spend() > 0  # the price override makes offline calls cost money


def test_second_run_waits_for_the_first(
    deployed: Workspace, queue_run: QueueRun, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ws = Workspace(deployed.server, tmp_path_factory.mktemp("pair"))
    job_ids = ws.add_jobs(4, "pair")
    worker = start_worker(ws, "worker-pair")
    try:
        with api(ws.server) as client:
            queue = deployment(client, "process-queue").id
            first = run_deployment(queue, timeout=0, parameters={"limit": 2})
            second = run_deployment(queue, timeout=0, parameters={"limit": 2})
            samples = sample_states(client, [first.id, second.id], until_s=240)
            runs = [client.read_flow_run(i) for i in (first.id, second.id)]
    finally:
        worker.stop()

    assert [r.state_name for r in runs] == ["Completed", "Completed"], worker.output()
    # Never both running; one waited while the other ran.
    assert ("Running", "Running") not in samples, samples
    waiting = {"AwaitingConcurrencySlot", "Scheduled", "Pending"}
    assert any(
        (a == "Running" and b in waiting) or (b == "Running" and a in waiting) for a, b in samples
    ), samples
    earlier, later = sorted(runs, key=lambda r: r.start_time)
    assert earlier.end_time <= later.start_time

    done = [{r.job_id for r in ws.progress(ws.run_of(run.id).id)} for run in runs]
    assert done[0].isdisjoint(done[1]) and done[0] | done[1] == set(job_ids), done
    per_job = _calls_per_job(queue_run)
    assert set(ws.usage_rows(job_ids).values()) == {per_job}


def _calls_per_job(queue_run: QueueRun) -> int:
    (calls,) = set(queue_run.ws.usage_rows(queue_run.job_ids).values())
    return calls


def _executed(log: str, runs: list[FlowRun]) -> list[str]:
    """The flow runs that ran under a worker: their own output is streamed into its log.

    ("submitting flow run" is not proof: two workers may both try the same run and the
    server lets one of them have it.)
    """
    return [r.name for r in runs if f"Beginning flow run '{r.name}'" in log]


def _spend_cap(queue_run: QueueRun, runs_at_once: int) -> float:
    """A total cap just above what the same 20 jobs cost in the single-worker run.

    The guard reserves each call's worst case (input + max_tokens output) before sending it,
    so the cap leaves room for one worst-case call per run in flight (one job at a time):
    bounded by the largest job's whole input plus the largest max_tokens, at $1 per 1M tokens.
    """
    from tasks.extract import EXTRACT
    from tasks.generate import GENERATE
    from tasks.research import RESEARCH
    from tasks.score import SCORE

    ws = queue_run.ws
    expected = ws.total_spend()
    with ws.store() as store:
        biggest_input = max(store.usage_total(job_id=j).input_tokens for j in queue_run.job_ids)
    max_tokens = max(layer.max_tokens for layer in (EXTRACT, RESEARCH, SCORE, GENERATE))
    return expected + runs_at_once * (biggest_input + max_tokens) / 1_000_000


def test_two_workers_share_one_store(
    deployed: Workspace, queue_run: QueueRun, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ws = Workspace(deployed.server, tmp_path_factory.mktemp("two-workers"))
    job_ids = ws.add_jobs(JOBS, "queue")  # the same postings as the single-worker run
    expected = queue_run.ws.total_spend()
    cap = _spend_cap(queue_run, runs_at_once=2)
    env = {"APPLYFLOW_BUDGET_TOTAL_USD": f"{cap:.6f}", "APPLYFLOW_JOB_CONCURRENCY": "1"}
    # One run per worker at a time, so two runs at once land on different workers.
    workers = [start_worker(ws, f"worker-{n}", "--limit", "1", **env) for n in ("x", "y")]
    try:
        with api(ws.server) as client:
            parallel = deployment(client, PARALLEL).id
            ids = [
                run_deployment(parallel, timeout=0, parameters={"limit": JOBS // 2}).id
                for _ in workers
            ]
            runs = [wait_final(client, i, workers[0].output() + workers[1].output()) for i in ids]
    finally:
        for worker in workers:
            worker.stop()

    logs = [w.output(tail=200_000) for w in workers]
    assert [r.state_name for r in runs] == ["Completed", "Completed"], logs
    # Each worker ran one of the two runs.
    executed = [_executed(log, runs) for log in logs]
    assert sorted(executed) == sorted([[runs[0].name], [runs[1].name]]), (executed, logs)

    done = [{r.job_id for r in ws.progress(ws.run_of(run.id).id)} for run in runs]
    assert done[0].isdisjoint(done[1]) and done[0] | done[1] == set(job_ids), done
    with ws.store() as store:
        assert {store.get_job(j).status for j in job_ids} == {Status.READY}
    assert set(ws.usage_rows(job_ids).values()) == {_calls_per_job(queue_run)}
    spent = ws.total_spend()
    assert spent == pytest.approx(expected, abs=1e-9), (spent, expected)
    assert spent <= cap, (spent, cap)
