"""`applyflow serve`: run every deployment, with its schedule, from this one process."""

from __future__ import annotations

import os
from contextlib import ExitStack

import httpx
import typer

from applyflow.cli._app import app, err_console, fail, handle_errors
from applyflow.cli._preflight import check_serve
from applyflow.cli._session import settings, store_session
from applyflow.cli.console_logs import quiet_console
from applyflow.cli.observe import open_exporter
from applyflow.settings import Settings


def _api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or os.environ.get("PREFECT_API_URL")


def _pooled(flows_by_name: dict[str, str]) -> list[str]:
    """``flow/deployment`` of the deployments `prefect deploy` made for workers (tied to a work
    pool) that serving these would take over."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        found = client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=list(flows_by_name)))
        )
        flow_names = {d.flow_id: client.read_flow(d.flow_id).name for d in found}
    return sorted(
        f"{flow_names[d.flow_id]}/{d.name}"
        for d in found
        if d.work_pool_name and flow_names[d.flow_id] == flows_by_name[d.name]
    )


@app.command()
@handle_errors
def serve(
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Most flow runs at once in this process (default: no limit)."
    ),
    metrics: bool = typer.Option(
        False,
        "--metrics",
        help="Also serve the Prometheus exporter (APPLYFLOW_METRICS_HOST:APPLYFLOW_METRICS_PORT).",
    ),
) -> None:
    """Serve ingest (hourly), process-queue (every 30 min) and daily-report (18:00).

    Runs here, from this folder, until Ctrl-C; schedules are paused on exit. Set
    PREFECT_API_URL (e.g. after `make server`) to see and trigger the runs in the Prefect UI.
    Refuses to start when that server has the same deployments in worker mode.
    """
    cfg = settings()
    check_serve(cfg)  # before Prefect loads: profile, prices, keys
    with ExitStack() as stack:
        if metrics:  # first, so a refused address stops before Prefect loads
            store = stack.enter_context(store_session(cfg))
            exporter = open_exporter(cfg, store, None, None).start()
            stack.callback(exporter.close)
            err_console.print(f"metrics on {exporter.url}", highlight=False)
        _serve(cfg, limit)


def _serve(cfg: Settings, limit: int | None) -> None:
    from applyflow.cli.local_server import use_prefect_api

    use_prefect_api(cfg)  # the local server, unless an API is configured
    # Imported when serving, so `--help` never loads Prefect or the flows.
    from prefect import serve as prefect_serve

    from flows.deployments import build_deployments

    quiet_console()

    try:
        deployments = build_deployments(cfg)
    except ImportError as exc:
        raise fail(f"cannot load the flows to serve: {exc}") from None
    url = _api_url()
    try:
        pooled = _pooled({d.name: d.flow_name for d in deployments}) if url else []
    except httpx.HTTPError as exc:
        raise fail(
            f"Prefect API {url} is unreachable ({type(exc).__name__}); start it (`make server`) "
            "or unset PREFECT_API_URL"
        ) from None
    if pooled:
        # Serving would update them in place (their workers could take the runs too) and pause
        # their schedules when it stops: leave worker mode alone.
        removal = "; ".join(f"prefect deployment delete {name}" for name in pooled)
        raise fail(
            f"{', '.join(pooled)} are worker-mode deployments (`prefect deploy`) on {url}; "
            "serving would take them over and pause them on exit. Use one mode per Prefect "
            f"server: keep the workers, or remove those deployments first ({removal})."
        )
    if not url:
        err_console.print(
            "[yellow]note:[/] APPLYFLOW_PREFECT_SERVER=temporary, so Prefect runs a temporary "
            "local API that ends with this process. For the UI: unset it (a local server is "
            "then started and kept) or set PREFECT_API_URL.",
            highlight=False,
        )
    prefect_serve(*deployments, limit=limit)
