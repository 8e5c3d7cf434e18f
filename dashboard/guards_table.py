"""The guard settings the workers use (stored on each run) beside the dashboard's own, for the
Health page. The loader is cached like those in ``dashboard/data.py``, which re-exports it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import pandas as pd
import streamlit as st

from applyflow.money import format_usd
from applyflow.settings import Settings
from dashboard.source import Source, store

__all__ = ["RunGuards", "guards_rows", "load_run_guards", "own_guards"]

TTL_S = 30
CAP_LABELS = {"total": "Total cap", "month": "Monthly cap", "day": "Daily cap",
              "run": "Per-run cap", "job": "Per-job cap"}  # fmt: skip


class RunGuards(NamedTuple):
    """The guard settings the latest run that recorded them ran with."""

    run_id: str
    started_at: datetime
    guards: dict[str, Any]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_run_guards(src: Source) -> RunGuards | None:
    """The newest of the recent runs that stored its guard settings, or None."""
    for run in store(src.url).list_runs(limit=20):
        if run.guards:
            return RunGuards(run.id, run.started_at, run.guards)
    return None


def own_guards(settings: Settings, providers: list[str] | None) -> dict[str, Any]:
    """The dashboard's own guard settings, for ``providers`` (default: those in use), as a
    run stores them.

    Raises ``ImportError`` (or the guards' error) when the guards package is unavailable.
    """
    from guards.health import effective_guards  # lazy: the dashboard works without it

    return effective_guards(settings, providers).model_dump(mode="json")


def _settings_rows(guards: dict[str, Any] | None, providers: list[str]) -> dict[str, str]:
    if not guards:
        return {}
    by_provider = {p["provider"]: p for p in guards.get("providers", [])}
    rows: dict[str, str] = {}
    for name in providers:
        p = by_provider.get(name)
        rows[f"{name}: requests"] = ("; ".join(p["requests"]) or "unlimited") if p else "not used"
        rows[f"{name}: tokens"] = ("; ".join(p["tokens"]) or "no limit") if p else "not used"
        rows[f"{name}: parallel calls"] = str(p["slots"]) if p else "not used"
    for kind, cap in guards.get("caps", {}).items():
        rows[CAP_LABELS.get(kind, kind)] = format_usd(cap, None, none="no cap")
    rows["Warn at"] = f"{guards['budget_warn_at']:.0%} of a cap"
    rows["Breaker"] = (
        f"opens after {guards['breaker_fail_max']} failures, "
        f"tries again after {guards['breaker_reset_s']:g} s"
    )
    rows["Longest rate wait"] = f"{guards['rate_max_wait_s']:g} s"
    rows["Rate windows stored in"] = str(guards["rate_storage"])
    return rows


def guards_rows(run: dict[str, Any] | None, own: dict[str, Any] | None) -> pd.DataFrame:
    """One row per guard setting: what the latest run used, what the dashboard would use."""
    providers = sorted({p["provider"] for g in (run, own) if g for p in g.get("providers", [])})
    used, mine = _settings_rows(run, providers), _settings_rows(own, providers)
    names = list(dict.fromkeys([*used, *mine]))
    return pd.DataFrame(
        {
            "setting": names,
            "workers (latest run)": [used.get(n, "—") for n in names],
            "this dashboard": [mine.get(n, "—") for n in names],
        }
    )
