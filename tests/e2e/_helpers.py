"""What the deployment e2e tests share: a store per test, Prefect queries, waiting for runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.client.schemas.responses import DeploymentResponse
from prefect.settings import PREFECT_API_URL, temporary_settings

from applyflow.models import JobPosting, ProgressRecord, Run, utcnow
from applyflow.settings import LAYERS
from applyflow.store import Store, open_store
from flows.deployments import WORK_POOL
from tests.e2e.conftest import VENV_BIN, PrefectServer, Proc
from tests.waiting import wait_until

TIMEZONE = "Europe/Berlin"
# The offline model costs $0 unless priced: $1 per 1M tokens each way makes spend countable.
PRICES = '{"offline": {"input": 1.0, "output": 1.0}}'
RUN_TIMEOUT_S = 240.0
PAGE = 200
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

APPLYFLOW = str(VENV_BIN / "applyflow")
PREFECT = str(VENV_BIN / "prefect")


@dataclass
class Workspace:
    """One SQLite store and output folder, and the environment that points processes at it."""

    server: PrefectServer
    folder: Path

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.folder / 'applyflow.db'}"

    def env(self, **extra: str) -> dict[str, str]:
        return self.server.env(
            APPLYFLOW_STORE_URL=self.store_url,
            APPLYFLOW_OUTPUT_DIR=str(self.folder / "output"),
            APPLYFLOW_TIMEZONE=TIMEZONE,
            APPLYFLOW_PRICES=PRICES,
            **extra,
        )

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = open_store(self.store_url)
        try:
            yield store
        finally:
            store.close()

    def add_jobs(self, n: int, tag: str) -> list[str]:
        """Queue ``n`` distinct postings; their ids."""
        postings = [
            JobPosting(
                source="e2e",
                external_id=f"{tag}-{i}",
                title=f"Senior Python Engineer {i}",
                company=f"Acme {tag} {i}",
                location="Berlin",
                description=(
                    f"Acme {tag} {i} builds data pipelines. You will design Python services, "
                    "write SQL, run Prefect flows and mentor engineers. Requirements: 5+ years "
                    "of Python, PostgreSQL, Docker, AWS; Kubernetes is a plus."
                ),
            )
            for i in range(n)
        ]
        with self.store() as store:
            store.upsert_jobs(postings, utcnow())
        return [p.id for p in postings]

    def run_of(self, flow_run_id: UUID) -> Run:
        """The store's run record of a Prefect flow run."""
        with self.store() as store:
            runs = [r for r in store.list_runs(limit=100) if r.flow_run_id == str(flow_run_id)]
        assert len(runs) == 1, f"store runs for flow run {flow_run_id}: {runs}"
        return runs[0]

    def layer_run_names(self, job_ids: list[str]) -> set[str]:
        """The layer task-run names the Prefect UI shows for these jobs (``extract · T @ C``)."""
        with self.store() as store:
            jobs = [store.get_job(job_id) for job_id in job_ids]
        return {f"{layer} · {job.title} @ {job.company}" for layer in LAYERS for job in jobs}

    def progress(self, run_id: str) -> list[ProgressRecord]:
        with self.store() as store:
            return store.list_progress(run_id)

    def usage_rows(self, job_ids: list[str]) -> dict[str, int]:
        """Settled model calls per job (a job processed twice would have twice the rows)."""
        with self.store() as store:
            return {job_id: store.usage_total(job_id=job_id).calls for job_id in job_ids}

    def total_spend(self) -> float:
        with self.store() as store:
            return store.usage_total().cost_usd


@contextmanager
def api(server: PrefectServer) -> Iterator[SyncPrefectClient]:
    """A client of the e2e server (and the same server for ``run_deployment``)."""
    with (
        temporary_settings({PREFECT_API_URL: server.api_url}),
        get_client(sync_client=True) as client,
    ):
        yield client


def deployment(client: SyncPrefectClient, name: str) -> DeploymentResponse:
    """The deployment called ``name`` (deployment name, not flow/deployment)."""
    found = client.read_deployments(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name]))
    )
    assert len(found) == 1, f"deployments named {name!r}: {[d.name for d in found]}"
    return found[0]


def wait_final(client: SyncPrefectClient, flow_run_id: UUID, logs: str = "") -> FlowRun:
    """Poll the flow run until it reaches a final state (with a deadline)."""

    def final() -> FlowRun | None:
        run = client.read_flow_run(flow_run_id)
        return run if run.state_type and run.state_type.value in FINAL else None

    try:
        return wait_until(
            final, f"flow run {flow_run_id} to finish", timeout=RUN_TIMEOUT_S, interval=0.5
        )
    except AssertionError as exc:
        run = client.read_flow_run(flow_run_id)
        raise AssertionError(f"{exc}; last state {run.state_name}\n{logs}") from None


def task_runs(client: SyncPrefectClient, flow_run_id: UUID) -> list[TaskRun]:
    """Every task run of a flow run (the API pages at 200)."""
    out: list[TaskRun] = []
    while True:
        page = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            limit=PAGE,
            offset=len(out),
        )
        out += page
        if len(page) < PAGE:
            return out


def layer_task_runs(client: SyncPrefectClient, flow_run_id: UUID) -> dict[str, list[TaskRun]]:
    """Layer task runs of a flow run by run name (``<layer> · <title> @ <company>``)."""
    out: dict[str, list[TaskRun]] = {}
    for run in task_runs(client, flow_run_id):
        layer = run.name.split(" · ", 1)[0]
        if layer in LAYERS:
            out.setdefault(run.name, []).append(run)
    return out


def settled_layer_runs(
    client: SyncPrefectClient, flow_run_id: UUID, expected: set[str], timeout: float = 60.0
) -> dict[str, list[TaskRun]]:
    """Layer task runs once the server has recorded them all as final.

    Task-run names and states reach the server as events, a moment after the flow run ends,
    so poll until ``expected`` names are all there in a final state (or the deadline passes).
    """
    deadline = time.monotonic() + timeout
    while True:
        runs = layer_task_runs(client, flow_run_id)
        states = [r.state_type.value for rs in runs.values() for r in rs if r.state_type]
        settled = set(runs) == expected and all(s in FINAL for s in states)
        if settled or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def progress_artifact(client: SyncPrefectClient, flow_run_id: UUID) -> float:
    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            type=ArtifactFilterType(any_=["progress"]),
        )
    )
    assert len(found) == 1, f"progress artifacts of {flow_run_id}: {found}"
    return float(found[0].data)


def sample_states(
    client: SyncPrefectClient, ids: list[UUID], until_s: float
) -> list[tuple[str | None, ...]]:
    """State names of ``ids`` sampled until all are final (the order they went through)."""
    samples: list[tuple[str | None, ...]] = []
    deadline = time.monotonic() + until_s
    while time.monotonic() < deadline:
        runs = [client.read_flow_run(i) for i in ids]
        samples.append(tuple(r.state_name for r in runs))
        if all(r.state_type and r.state_type.value in FINAL for r in runs):
            return samples
        time.sleep(0.2)
    raise AssertionError(f"runs {ids} not final after {until_s:.0f}s; last {samples[-1:]}")


def start_worker(ws: Workspace, name: str, *args: str, **env: str) -> Proc:
    """A worker on the pool, returned once it says it started (so it polls from now on)."""
    [proc] = start_workers(ws, [name], *args, **env)
    return proc


def start_workers(ws: Workspace, names: list[str], *args: str, **env: str) -> list[Proc]:
    """Workers on the pool, started together, returned once each says it started."""
    procs = [
        ws.server.start(
            name,
            [PREFECT, "worker", "start", "--pool", WORK_POOL, "--name", name, *args],
            ws.env(**env),
        )
        for name in names
    ]
    for name, proc in zip(names, procs, strict=True):

        def started(proc: Proc = proc, name: str = name) -> bool:
            assert proc.alive(), f"worker {name} exited:\n{proc.output()}"
            return f"Worker '{name}' started!" in proc.output(tail=100_000)

        wait_until(started, f"worker {name} to start", timeout=60, interval=0.25)
    return procs


def executed_by(log: str, runs: list[FlowRun]) -> list[str]:
    """The flow runs that ran under a worker: their own output is streamed into its log.

    ("submitting flow run" is not proof: two workers may both try the same run and the
    server lets one of them have it.)
    """
    return [r.name for r in runs if f"Beginning flow run '{r.name}'" in log]
