"""The runs part of the store contract: pipeline runs and their per-layer progress rows."""

from __future__ import annotations

from abc import ABC, abstractmethod

from applyflow.models import ProgressRecord, Run

__all__ = ["RunStore"]


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
    def record_progress(self, record: ProgressRecord) -> None:
        """Upsert the (run, job, layer) row."""

    @abstractmethod
    def list_progress(self, run_id: str) -> list[ProgressRecord]:
        """Rows of a run ordered by job then layer start."""
