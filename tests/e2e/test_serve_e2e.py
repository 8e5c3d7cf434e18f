"""Serve mode against a real Prefect server: `applyflow serve` registers the three deployments
with their schedules and runs them from its own process."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.responses import DeploymentResponse
from prefect.deployments import run_deployment

from applyflow.models import Status
from flows.deployments import DEPLOYMENTS
from tests.e2e._helpers import APPLYFLOW, TIMEZONE, Workspace, api, wait_final
from tests.e2e.conftest import PrefectServer
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

SERVE_START_S = 120.0


def _named(client: SyncPrefectClient, *names: str) -> list[DeploymentResponse]:
    return client.read_deployments(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=list(names)))
    )


def _served(client: SyncPrefectClient) -> dict[str, DeploymentResponse] | None:
    """The three deployments once serve mode registered them (module entrypoints)."""
    by_name = {d.name: d for d in _named(client, *(item.name for item in DEPLOYMENTS))}
    for item in DEPLOYMENTS:
        got = by_name.get(item.name)
        if got is None or got.entrypoint != f"{item.module}.{item.function}":
            return None
    return by_name


def test_applyflow_serve_runs_the_schedules(prefect_server: PrefectServer, tmp_path: Path) -> None:
    ws = Workspace(prefect_server, tmp_path)
    job_ids = ws.add_jobs(3, "serve")
    with api(prefect_server) as client:
        # Worker-mode deployments of the same names (from `prefect deploy`) would keep their
        # work pool when serve updates them: start from none, as on a serve-only server.
        for item in DEPLOYMENTS:
            for found in _named(client, item.name):
                client.delete_deployment(found.id)
    proc = prefect_server.start("serve", [APPLYFLOW, "serve"], ws.env())
    try:
        with api(prefect_server) as client:

            def registered() -> dict[str, DeploymentResponse] | None:
                assert proc.alive(), f"applyflow serve exited:\n{proc.output()}"
                return _served(client)

            served = wait_until(
                registered, "applyflow serve to register", timeout=SERVE_START_S, interval=0.25
            )
            for item in DEPLOYMENTS:
                got = served[item.name]
                assert got.work_pool_name is None, item.name  # runs in the serve process
                assert not got.paused, item.name
                (schedule,) = got.schedules
                assert schedule.active and schedule.schedule.timezone == TIMEZONE, item.name
            assert served["ingest"].schedules[0].schedule.interval.total_seconds() == 3600
            assert served["process-queue"].schedules[0].schedule.cron == "*/30 * * * *"
            assert served["daily-report"].schedules[0].schedule.cron == "0 18 * * *"
            assert served["process-queue"].global_concurrency_limit.limit == 1
            assert served["process-queue"].concurrency_options.collision_strategy.value == "ENQUEUE"

            started = run_deployment(served["process-queue"].id, timeout=0, parameters={})
            run = wait_final(client, started.id, proc.output())
            assert run.state_name == "Completed", proc.output()
    finally:
        proc.stop()

    with ws.store() as store:
        assert {store.get_job(j).status for j in job_ids} == {Status.READY}
    # Ctrl-C (SIGINT) pauses the served deployments' schedules on the way out.
    with api(prefect_server) as client:
        assert all(d.paused for d in _served(client).values())
