"""Prometheus metrics computed from the store at scrape time (``applyflow metrics``).

``StoreCollector`` reads every series from the store when scraped, so they hold for any number
of processes; ``MetricsServer`` serves them on ``/metrics`` (loopback by default; anything else
needs ``APPLYFLOW_METRICS_TOKEN``, sent by Prometheus as a bearer token). ``exporter`` builds
both from settings and an open store.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from applyflow.metrics._collector import BUDGET_SCOPES, SERIES, StoreCollector
from applyflow.metrics._server import TOKEN_ENV, MetricsServer, binding_refusal
from applyflow.settings import Settings
from applyflow.store import Store

__all__ = [
    "BUDGET_SCOPES",
    "SERIES",
    "TOKEN_ENV",
    "MetricsServer",
    "StoreCollector",
    "binding_refusal",
    "exporter",
]


def exporter(
    settings: Settings,
    store: Store,
    host: str,
    port: int,
    providers: Sequence[str] = (),
) -> MetricsServer:
    """The exporter for ``store`` on ``host:port`` (token from settings), not yet serving."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(StoreCollector(settings, store, providers=providers))
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    return MetricsServer(registry, host, port, token or None)
