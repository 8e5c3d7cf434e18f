"""`applyflow serve` hands the three deployments to `prefect.serve`, and refuses to take over
worker-mode deployments of the same names.

`prefect.serve` itself (which runs until Ctrl-C) is replaced by a recorder here; serving for
real is covered by tests/e2e/test_serve_e2e.py against a real Prefect server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import prefect
import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from flows.deployments import DEPLOYMENTS


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def record(*deployments: Any, **kwargs: Any) -> None:
        calls.append({"deployments": deployments, **kwargs})

    monkeypatch.setattr(prefect, "serve", record)
    return calls


def test_serve_passes_every_deployment_and_the_limit(
    prefect_harness: None,
    cli_env: Path,
    runner: CliRunner,
    served: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APPLYFLOW_TIMEZONE", "Asia/Tokyo")
    result = runner.invoke(app, ["serve", "--limit", "3"])
    assert result.exit_code == 0, result.output
    (call,) = served
    assert [d.name for d in call["deployments"]] == [item.name for item in DEPLOYMENTS]
    assert {d.schedules[0].schedule.timezone for d in call["deployments"]} == {"Asia/Tokyo"}
    assert call["limit"] == 3


def test_serve_leaves_worker_mode_deployments_alone(
    prefect_harness: None, cli_env: Path, runner: CliRunner, served: list[dict[str, Any]]
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from flows.report import daily_report

    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(name="serve-test-pool", type="process"), overwrite=True
        )
    pooled = daily_report.to_deployment(name="daily-report", work_pool_name="serve-test-pool")
    deployment_id = pooled.apply()
    try:
        with get_client(sync_client=True) as client:
            before = client.read_deployment(deployment_id)
        result = runner.invoke(app, ["serve"])
        with get_client(sync_client=True) as client:
            after = client.read_deployment(deployment_id)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment_id)
    assert result.exit_code == 1
    # (the preflight's warning that APPLYFLOW_SOURCES is empty comes first)
    [line] = [ln for ln in result.output.strip().splitlines() if not ln.startswith("warning:")]
    assert line.startswith("error: daily-report/daily-report are worker-mode deployments")
    assert "serving would take them over and pause them on exit" in line
    assert "prefect deployment delete daily-report/daily-report" in line
    assert served == []  # prefect.serve never ran: nothing was updated, nothing paused
    assert (after.updated, after.work_pool_name, after.paused) == (
        before.updated, "serve-test-pool", False,
    )  # fmt: skip


def test_serve_reports_an_unreachable_api(
    cli_env: Path,
    runner: CliRunner,
    served: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # Port 9 (discard) on loopback: nothing answers.
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "Prefect API http://127.0.0.1:9/api is unreachable" in result.output
    assert served == []


def test_serve_with_metrics_runs_the_exporter_while_serving(
    prefect_harness: None, cli_env: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    from tests.loopback import free_port

    port = free_port()
    monkeypatch.setenv("APPLYFLOW_METRICS_PORT", str(port))
    scraped: list[str] = []
    # While "serving", the exporter answers from its thread.
    monkeypatch.setattr(
        prefect,
        "serve",
        lambda *deployments, **kw: scraped.append(
            httpx.get(f"http://127.0.0.1:{port}/metrics").text
        ),
    )
    result = runner.invoke(app, ["serve", "--metrics"])
    assert result.exit_code == 0, result.output
    assert f"metrics on http://127.0.0.1:{port}/metrics" in result.output
    (text,) = scraped
    assert "applyflow_store_up 1.0" in text
    with pytest.raises(httpx.ConnectError):  # and stops with serve
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_serve_with_metrics_on_a_public_address_needs_a_token(
    cli_env: Path, runner: CliRunner, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLYFLOW_METRICS_HOST", "0.0.0.0")
    result = runner.invoke(app, ["serve", "--metrics"])
    assert result.exit_code == 2
    assert "APPLYFLOW_METRICS_TOKEN" in result.output
    assert served == []
