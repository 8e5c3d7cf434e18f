"""`applyflow server start|stop|status`: the local Prefect server of ``local_server.py``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from applyflow.cli._app import JsonFlag, app, console, handle_errors, print_json
from applyflow.cli._session import settings
from applyflow.cli.local_server import (
    ServerRecord,
    find_server,
    healthy,
    start_server,
    state_dir,
    stop_server,
)

server_app = typer.Typer(
    help="The local Prefect server flow commands reuse (started on first use, left running).",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


def _describe(record: ServerRecord | None, stale: bool, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {"running": record is not None, "stale_record_removed": stale}
    if record is not None:
        data.update(asdict(record), ui_url=record.ui_url, healthy=healthy(record.api_url))
    data.update(extra)
    return data


@server_app.command("start")
@handle_errors
def start(
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port (default: 4200, else a free one)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start the local Prefect server (127.0.0.1), or say where it already runs."""
    settings()
    record, started = start_server(state_dir(), port)
    if as_json:
        print_json(_describe(record, False, started=started))
        return
    verb = "started" if started else "already running:"
    console.print(
        f"Prefect server {verb} {record.ui_url} (pid {record.pid}, PREFECT_HOME {record.home}); "
        "flow commands use it; `applyflow server stop` stops it",
        highlight=False,
        soft_wrap=True,
    )


@server_app.command("stop")
@handle_errors
def stop(as_json: JsonFlag = False) -> None:
    """Stop the local Prefect server applyflow started (its runs stay in PREFECT_HOME)."""
    record, stale = stop_server(state_dir())
    if as_json:
        print_json(_describe(None, stale, stopped=asdict(record) if record else None))
        return
    if record is not None:
        console.print(f"stopped the Prefect server at {record.ui_url} (pid {record.pid})")
    else:
        note = " (removed a stale record)" if stale else ""
        console.print(f"no local Prefect server running{note}")


@server_app.command("status")
@handle_errors
def status(as_json: JsonFlag = False) -> None:
    """Whether the local Prefect server runs and answers. Exit 0 when it does, else 1."""
    record, stale = find_server(state_dir())
    data = _describe(record, stale)
    if as_json:
        print_json(data)
    elif record is None:
        note = " (removed a stale record: its process was gone)" if stale else ""
        console.print(f"no local Prefect server running{note}; `applyflow server start` starts one")
    else:
        state = "[green]up[/]" if data["healthy"] else "[red]not answering[/]"
        console.print(
            f"Prefect server {state} at {record.ui_url} (pid {record.pid}, since "
            f"{record.started_at}, PREFECT_HOME {record.home}, log {record.log})",
            soft_wrap=True,
        )
    if not (record and data["healthy"]):
        raise typer.Exit(1)
