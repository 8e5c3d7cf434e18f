"""Observability commands: `metrics` serves the Prometheus exporter."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from applyflow.cli._app import EXIT_USAGE, app, console, fail, handle_errors
from applyflow.cli._session import settings, store_session
from applyflow.settings import Settings
from applyflow.store import Store

if TYPE_CHECKING:
    from applyflow.metrics import MetricsServer

Host = Annotated[str | None, typer.Option(help="Bind address (default: APPLYFLOW_METRICS_HOST).")]
Port = Annotated[
    int | None,
    typer.Option(help="Port (default: APPLYFLOW_METRICS_PORT, 9464).", min=0, max=65535),
]


def open_exporter(cfg: Settings, store: Store, host: str | None, port: int | None) -> MetricsServer:
    """The exporter on ``host:port`` (settings by default), or a one-line exit: 2 when the
    address needs a token, 1 when it cannot be bound."""
    from applyflow.metrics import binding_refusal, exporter
    from guards.health import providers_in_use

    host = host or cfg.metrics_host
    port = cfg.metrics_port if port is None else port
    token = cfg.metrics_token.get_secret_value() if cfg.metrics_token else None
    if why := binding_refusal(host, token):
        raise fail(why, EXIT_USAGE)
    try:
        return exporter(cfg, store, host, port, providers_in_use(cfg))
    except OSError as exc:
        raise fail(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None


@app.command()
@handle_errors
def metrics(host: Host = None, port: Port = None) -> None:
    """Serve Prometheus metrics computed from the store on http://127.0.0.1:9464/metrics.

    Every scrape reads the store, so the series count the work of every worker. Binding to
    anything but loopback needs APPLYFLOW_METRICS_TOKEN (a bearer token).
    """
    cfg = settings()
    with store_session(cfg) as store:
        server = open_exporter(cfg, store, host, port)
        console.print(f"applyflow metrics on {server.url}  (Ctrl+C stops it)")
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
