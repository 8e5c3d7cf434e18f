"""Failed flow runs become ``flow_failed`` alerts (stored, logged, sent to the webhook).

An alert that cannot be recorded is logged and never hides the flow's own error.
"""

from __future__ import annotations

import logging
from typing import Any

from applyflow.runtime import current_runtime
from applyflow.settings import Settings, get_settings
from applyflow.store import Store
from guards.alerts import alert
from tasks.progress import OneLinePerHook

__all__ = ["FLOW_FAILED", "alert_flow_failed", "on_flow_failure"]

log = logging.getLogger(__name__)

FLOW_FAILED = "flow_failed"


def alert_flow_failed(settings: Settings, store: Store, key: str, message: str) -> None:
    """Record one ``flow_failed`` error alert under ``key``; never raises."""
    try:
        alert(settings, store, FLOW_FAILED, key, message, "error")
    except Exception:
        log.exception("could not record the flow_failed alert %s", key)


def on_flow_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect ``on_failure`` hook: alert with the flow's name and flow run id."""
    try:
        settings = get_settings()
        store = current_runtime().store_factory(settings.store_url)
    except Exception:  # no settings or no store: nowhere to keep the alert
        log.exception("could not open the store to record that flow %s failed", flow.name)
        return
    try:
        why = state.message or "failed"
        message = f"{flow.name} run {flow_run.name} ({flow_run.id}) failed: {why}"
        alert_flow_failed(settings, store, f"flow:{flow.name}:{flow_run.id}", message[:1000])
    finally:
        store.close()


# One log line per hook run, as for the layer tasks' hooks (see tasks/progress.py).
logging.getLogger("prefect.flow_runs").addFilter(OneLinePerHook({on_flow_failure.__name__}))
