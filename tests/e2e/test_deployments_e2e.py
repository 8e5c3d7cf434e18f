"""Worker mode against a real Prefect server on PostgreSQL: `applyflow setup`, `prefect deploy
--all` from prefect.yaml, `prefect worker start --pool applyflow`, runs triggered with
`run_deployment`."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import asyncpg
import pytest
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment

from applyflow.models import ProgressStatus, Status
from applyflow.settings import LAYERS
from flows.deployments import DEPLOYMENTS, PROJECT_DIR, WORK_POOL
from tests.e2e._helpers import (
    APPLYFLOW,
    PREFECT,
    RUN_TIMEOUT_S,
    TIMEZONE,
    Workspace,
    api,
    deployment,
    executed_by,
    progress_artifact,
    sample_states,
    settled_layer_runs,
    start_worker,
    start_workers,
    wait_final,
)
from tests.e2e.conftest import PrefectServer
from tests.reliability.fake_openai import FakeOpenAI, Request, running
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

JOBS = 20
PARALLEL = "e2e-parallel"  # process_jobs with no deployment limit, for the two-worker tests
SLOT_JOBS, SLOTS, LATENCY_S = 4, 2, 0.3
CALLS_PER_JOB = 4  # extract, research, score, generate (publish calls no model)


@pytest.fixture
def provider() -> Iterator[FakeOpenAI]:
    """A priced OpenAI-compatible loopback provider that takes LATENCY_S to answer."""
    yield from running(latency_s=LATENCY_S, hang_s=180.0)  # a held call waits for the test


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
    assert form == {
        "limit", "model", "job_ids", "force", "dry_run", "price_as", "min_fit", "profile"
    }  # fmt: skip


def test_process_queue_through_a_worker(queue_run: QueueRun) -> None:
    ws, job_ids, run = queue_run.ws, queue_run.job_ids, queue_run.flow_run
    assert run.state_name == "Completed", queue_run.worker_log
    expected = ws.layer_run_names(job_ids)
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
    workers = start_workers(ws, ["worker-x", "worker-y"], "--limit", "1", **env)
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
    executed = [executed_by(log, runs) for log in logs]
    assert sorted(executed) == sorted([[runs[0].name], [runs[1].name]]), (executed, logs)

    done = [{r.job_id for r in ws.progress(ws.run_of(run.id).id)} for run in runs]
    assert done[0].isdisjoint(done[1]) and done[0] | done[1] == set(job_ids), done
    with ws.store() as store:
        assert {store.get_job(j).status for j in job_ids} == {Status.READY}
    assert set(ws.usage_rows(job_ids).values()) == {_calls_per_job(queue_run)}
    spent = ws.total_spend()
    assert spent == pytest.approx(expected, abs=1e-9), (spent, expected)
    assert spent <= cap, (spent, cap)


def _most_in_flight(requests: list[Request]) -> int:
    """The most requests the provider was answering at one moment."""
    edges = sorted([(r.at, 1) for r in requests] + [(r.answered or r.at, -1) for r in requests])
    most = current = 0
    for _, step in edges:  # an answer at the instant of an arrival counts as before it
        current += step
        most = max(most, current)
    return most


def _flow_runs_in_postgres(database_url: str, ids: list[UUID]) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return await conn.fetchval("SELECT count(*) FROM flow_run WHERE id = ANY($1)", ids)
        finally:
            await conn.close()

    return asyncio.run(count())


def test_two_workers_hold_llm_slots_across_workers_on_postgres(
    deployed: Workspace, provider: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two workers calling a priced provider that takes 0.3 s to answer, ``llm-openai`` set to 2
    slots and two jobs at a time in each run: up to four calls want to go at once, and the
    provider must never have more than two in flight. The provider holds the first call until a
    call of the other run arrives, so the two runs are calling at the same time. Each job is
    processed exactly once; the runs and their task runs are in the API and in the server's
    PostgreSQL database."""
    server = deployed.server
    ws = Workspace(server, tmp_path_factory.mktemp("slots"))
    job_ids = ws.add_jobs(SLOT_JOBS, "slots")
    env = {
        "APPLYFLOW_MODEL": "openai:gpt-4o-mini",  # priced by genai-prices; takes an llm slot
        "APPLYFLOW_BASE_URL": provider.url,
        "APPLYFLOW_API_KEY": "sk-fake-e2e-0000",
        "APPLYFLOW_MAX_PARALLEL_CALLS": f'{{"openai": {SLOTS}}}',
        "APPLYFLOW_JOB_CONCURRENCY": "2",
        "APPLYFLOW_BUDGET_TOTAL_USD": "100",
        "APPLYFLOW_MODEL_MAX_RETRIES": "0",
        "APPLYFLOW_MODEL_TIMEOUT_S": "180",  # the held first call must not time out
    }
    with ws.store() as store:
        job_of = {store.get_job(j).title: j for j in job_ids}

    def run_of(request: Request) -> str | None:
        with ws.store() as store:
            return store.get_job(job_of[request.title]).run_id

    provider.on(lambda request: True, "gate", times=1)
    server.run([APPLYFLOW, "setup"], ws.env(**env))  # llm-openai with 2 slots
    # One run per worker at a time, so the two runs land on different workers.
    workers = start_workers(ws, ["slots-a", "slots-b"], "--limit", "1", **env)
    try:
        with api(server) as client:
            assert client.read_global_concurrency_limit_by_name("llm-openai").limit == SLOTS
            parallel = deployment(client, PARALLEL).id
            ids = [
                run_deployment(parallel, timeout=0, parameters={"limit": SLOT_JOBS // 2}).id
                for _ in workers
            ]
            wait_until(provider.state.at_gate.is_set, "a first call", timeout=RUN_TIMEOUT_S)
            held_by = run_of(provider.requests[0])

            def other_run_calls() -> bool:
                return any(run_of(r) != held_by for r in provider.requests[1:])

            wait_until(other_run_calls, "the other run's call", timeout=RUN_TIMEOUT_S)
            provider.open_gate()
            runs = [wait_final(client, i, workers[0].output() + workers[1].output()) for i in ids]
            # Slots are given back by a background thread (flushed when the run's process ends).
            wait_until(
                lambda: (
                    client.read_global_concurrency_limit_by_name("llm-openai").active_slots == 0
                ),
                "every llm-openai slot given back after the runs",
                timeout=60,
            )
    finally:
        for worker in workers:
            worker.stop()

    logs = [w.output(tail=200_000) for w in workers]
    assert [r.state_name for r in runs] == ["Completed", "Completed"], logs
    assert sorted(executed_by(log, runs) for log in logs) == sorted([[r.name] for r in runs])

    # Every job exactly once, across the two workers.
    done = [{row.job_id for row in ws.progress(ws.run_of(run.id).id)} for run in runs]
    assert done[0].isdisjoint(done[1]) and done[0] | done[1] == set(job_ids), done
    with ws.store() as store:
        assert {store.get_job(j).status for j in job_ids} == {Status.READY}
    assert ws.usage_rows(job_ids) == dict.fromkeys(job_ids, CALLS_PER_JOB)
    assert len(provider.billed()) == SLOT_JOBS * CALLS_PER_JOB

    # The llm-openai slots held across both workers: never more than two calls in flight at the
    # provider, although both runs called at once (the held call overlapped the other run's).
    assert _most_in_flight(provider.requests) == SLOTS

    # The runs, as the API shows them, and in PostgreSQL.
    for run, jobs in zip(runs, done, strict=True):
        with api(server) as client:
            names = ws.layer_run_names(sorted(jobs))
            layer_runs = settled_layer_runs(client, run.id, names)
        assert set(layer_runs) == names
        assert {r.state_name for rs in layer_runs.values() for r in rs} == {"Completed"}
    assert server.database_url is not None
    assert _flow_runs_in_postgres(server.database_url, [run.id for run in runs]) == 2
