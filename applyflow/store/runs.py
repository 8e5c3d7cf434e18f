"""The runs part of the store contract: pipeline runs and their per-layer progress rows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta

from applyflow.models import ProgressRecord, Run

__all__ = ["RunStore", "sweep_dead_runs"]


def sweep_dead_runs(store: RunStore, now: datetime, lease_s: float) -> list[str]:
    """Mark ``crashed`` the runs with no heartbeat for ``lease_s`` seconds: the claim lease
    (``APPLYFLOW_CLAIM_LEASE_S``), after which their jobs can be claimed again anyway. Run by
    every later run, ``applyflow status``, the dashboard's Runs page and the daily report."""
    return store.crash_stale_runs(now - timedelta(seconds=lease_s))


class RunStore(ABC):
    """Runs (one per pipeline flow run) and the (run, job, layer) progress rows."""

    @abstractmethod
    def save_run(self, run: Run) -> None:
        """Insert or replace a run by id."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run | None: ...

    @abstractmethod
    def list_runs(self, limit: int = 20) -> list[Run]:
        """Newest started first."""

    @abstractmethod
    def touch_run(self, run_id: str, now: datetime) -> bool:
        """Record a running run's heartbeat at ``now``; False unless it is still ``running``."""

    @abstractmethod
    def crash_stale_runs(self, stale_before: datetime) -> list[str]:
        """Mark ``crashed`` every ``running`` run whose last heartbeat (its start, when it has
        none) is before ``stale_before``: its process died. ``ended_at`` becomes that last
        heartbeat. The ids marked, oldest first; atomic per run across processes."""

    @abstractmethod
    def record_progress(self, record: ProgressRecord) -> None:
        """Upsert the (run, job, layer) row."""

    @abstractmethod
    def list_progress(self, run_id: str) -> list[ProgressRecord]:
        """Rows of a run ordered by job then layer start."""
