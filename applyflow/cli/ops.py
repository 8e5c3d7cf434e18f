"""Operations commands: `dashboard` serves the Streamlit app."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from applyflow.cli._app import EXIT_USAGE, app, console, fail
from applyflow.cli._session import settings
from applyflow.settings import is_loopback

DASHBOARD_APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def dashboard_command(host: str, port: int) -> list[str]:
    """The `streamlit run` command line that serves the dashboard on ``host:port``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # no Deploy button or developer menu
    ]  # fmt: skip


@app.command()
def dashboard(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: APPLYFLOW_DASHBOARD_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: APPLYFLOW_DASHBOARD_PORT).", min=1, max=65535)
    ] = None,
) -> None:
    """Serve the dashboard (Streamlit) on 127.0.0.1:8501 unless settings say otherwise."""
    cfg = settings()
    host = host or cfg.dashboard_host
    port = port or cfg.dashboard_port
    has_password = bool(cfg.dashboard_password and cfg.dashboard_password.get_secret_value())
    if not is_loopback(host) and not has_password:
        raise fail(
            f"refusing to serve the dashboard on {host}: anyone who can reach it would see your "
            "applications and spend. Set APPLYFLOW_DASHBOARD_PASSWORD, or bind to 127.0.0.1.",
            EXIT_USAGE,
        )
    if not DASHBOARD_APP.is_file():
        raise fail(f"dashboard app not found at {DASHBOARD_APP}")
    console.print(f"applyflow dashboard on http://{host}:{port}  (Ctrl+C stops it)")
    sys.stdout.flush()
    # exec: Streamlit takes over this process, so its PID and signals are the command's own.
    os.execv(sys.executable, dashboard_command(host, port))
