"""`applyflow serve`: run every deployment, with its schedule, from this one process."""

from __future__ import annotations

import os

import typer

from applyflow.cli._app import app, err_console, fail, handle_errors, settings


def _api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or os.environ.get("PREFECT_API_URL")


@app.command()
@handle_errors
def serve(
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="Most flow runs at once in this process (default: no limit)."
    ),
) -> None:
    """Serve ingest (hourly), process-queue (every 30 min) and daily-report (18:00).

    Runs here, from this folder, until Ctrl-C; schedules are paused on exit. Set
    PREFECT_API_URL (e.g. after `make server`) to see and trigger the runs in the Prefect UI.
    """
    cfg = settings()
    # Flows are imported only here: applyflow's core never depends on them.
    from prefect import serve as prefect_serve

    from flows.deployments import build_deployments

    if not _api_url():
        err_console.print(
            "[yellow]note:[/] PREFECT_API_URL is not set, so Prefect runs a temporary local API "
            "that ends with this process. For the UI: `make server`, then "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api`.",
            highlight=False,
        )
    try:
        deployments = build_deployments(cfg)
    except ImportError as exc:
        raise fail(f"cannot load the flows to serve: {exc}") from None
    prefect_serve(*deployments, limit=limit)
