"""The Prefect API as the dashboard sees it: its URLs, a flow run's UI link, reachability."""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

import httpx
import streamlit as st

__all__ = [
    "FLOW_RUN_NAME_PATTERN",
    "flow_run_link",
    "flow_run_url",
    "prefect_status",
    "prefect_urls",
]


def prefect_urls() -> tuple[str | None, str | None]:
    """(API URL, UI URL) from ``PREFECT_API_URL`` / ``PREFECT_UI_URL``; the UI URL is derived
    from the API URL by dropping ``/api`` when only the API is known."""
    api = os.environ.get("PREFECT_API_URL", "").strip().rstrip("/") or None
    ui = os.environ.get("PREFECT_UI_URL", "").strip().rstrip("/") or None
    if ui is None and api:
        ui = api.removesuffix("/api")
    return api, ui


# The Runs table shows a flow run's link by its name, carried in the URL's fragment (which
# the Prefect UI ignores): LinkColumn's display_text shows the pattern's first group.
FLOW_RUN_NAME_PATTERN = r".*/flow-run/[^#]*#(.+)$"


def flow_run_url(flow_run_id: str | None) -> str | None:
    """The flow run's page in the Prefect UI, when both are known."""
    _, ui = prefect_urls()
    if not (ui and flow_run_id):
        return None
    return f"{ui}/runs/flow-run/{flow_run_id}"


def flow_run_link(flow_run_id: str | None, name: str | None) -> str | None:
    """``flow_run_url`` with the run's name (a run from before names were stored: its id's
    first block) as the fragment the Runs table shows (``FLOW_RUN_NAME_PATTERN``)."""
    url = flow_run_url(flow_run_id)
    if url is None or flow_run_id is None:
        return None
    return f"{url}#{quote(name or flow_run_id.split('-')[0])}"


@st.cache_data(ttl=10, show_spinner=False)
def prefect_status(api: str | None, timeout_s: float = 2.0) -> tuple[bool, str]:
    """Whether the Prefect API answers ``/health`` within a short timeout, and why not."""
    if not api:
        return False, "PREFECT_API_URL is not set (flow runs use a temporary local API)"
    host = urlsplit(api).netloc or api
    try:
        response = httpx.get(f"{api}/health", timeout=timeout_s)
    except httpx.HTTPError as exc:
        return False, f"{host} unreachable ({type(exc).__name__})"
    if response.status_code != 200:
        return False, f"{host} answered HTTP {response.status_code}"
    return True, f"{host} answered in {response.elapsed.total_seconds() * 1000:.0f} ms"
