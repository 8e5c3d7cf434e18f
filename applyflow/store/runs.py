"""The runs part of the store contract: pipeline runs and their per-layer progress rows."""

from __future__ import annotations

import bisect
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from applyflow.models import LayerStats, ProgressRecord, Run, RunWait

__all__ = [
    "LAYER_DURATION_BUCKETS",
    "RunStore",
    "collect_layer_stats",
    "duration_bucket",
    "sweep_dead_runs",
]

# Upper bounds (seconds) of the layer duration buckets, as Prometheus histograms use them
# (``le``). The stores keep counts per bucket: changing these needs a store schema upgrade.
LAYER_DURATION_BUCKETS: tuple[float, ...] = (
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip


def duration_bucket(seconds: float) -> int:
    """Index of the first bucket whose bound is >= ``seconds`` (len(bounds): above them all)."""
    return bisect.bisect_left(LAYER_DURATION_BUCKETS, seconds)


def collect_layer_stats(
    durations: Iterable[tuple[str, int, int, int]], failures: Mapping[str, int]
) -> list[LayerStats]:
    """``LayerStats`` sorted by layer from the rollup rows: (layer, bucket, count, total
    microseconds) and failures per layer."""
    size = len(LAYER_DURATION_BUCKETS) + 1
    buckets: dict[str, list[int]] = {}
    micros: dict[str, int] = {}
    for layer, bucket, count, us in durations:
        buckets.setdefault(layer, [0] * size)[bucket] += count
        micros[layer] = micros.get(layer, 0) + us
    return [
        LayerStats(
            layer=layer,
            buckets=buckets.get(layer, [0] * size),
            seconds=micros.get(layer, 0) / 1_000_000,
            failures=failures.get(layer, 0),
        )
        for layer in sorted(set(buckets) | set(failures))
    ]


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
    def set_run_waiting(self, run_id: str, waiting: RunWait | None) -> bool:
        """Record what a running run waits on (None: nothing now); False unless ``running``."""

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

    @abstractmethod
    def layer_stats(self) -> list[LayerStats]:
        """Per layer over every run (sorted by layer): the durations of ``completed`` rows per
        bucket, their total, and how many rows are ``failed``.

        Kept by the database as progress rows change (a row counts for its current status
        only), so reading them never scans the progress rows."""
