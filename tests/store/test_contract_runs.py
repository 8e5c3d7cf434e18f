"""The store contract, ``RunStore``: runs and their (run, job, layer) progress rows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from applyflow.models import ProgressRecord, ProgressStatus, Run, RunStatus
from applyflow.store import Store
from applyflow.store.runs import LAYER_DURATION_BUCKETS, duration_bucket
from tests.factories import NOW

LATER = NOW + timedelta(minutes=5)


class TestProgress:
    def _record(self, job: str, layer: str, minute: int, **kw: object) -> ProgressRecord:
        start = NOW + timedelta(minutes=minute)
        fields = {"status": ProgressStatus.RUNNING, "started_at": start, "updated_at": start}
        return ProgressRecord(run_id="r1", job_id=job, layer=layer, **(fields | kw))

    def test_one_row_per_run_job_layer_ordered_by_job_then_start(self, store: Store) -> None:
        store.record_progress(self._record("j2", "extract", 0))
        store.record_progress(self._record("j1", "score", 2))
        store.record_progress(self._record("j1", "extract", 1))
        store.record_progress(self._record("j1", "extract", 1).model_copy(update={"run_id": "r2"}))
        rows = store.list_progress("r1")
        assert [(r.job_id, r.layer) for r in rows] == [
            ("j1", "extract"), ("j1", "score"), ("j2", "extract"),
        ]  # fmt: skip
        assert store.list_progress("none") == []

    def test_upsert_replaces_the_row(self, store: Store) -> None:
        store.record_progress(self._record("j1", "extract", 0))
        done = self._record(
            "j1", "extract", 0, status=ProgressStatus.FAILED, ended_at=LATER, duration_s=300.5,
            cost_usd=0.0123, error="bad JSON",
        )  # fmt: skip
        store.record_progress(done)
        (row,) = store.list_progress("r1")
        assert row.model_dump(exclude={"cost_usd"}) == done.model_dump(exclude={"cost_usd"})
        assert row.cost_usd == pytest.approx(0.0123)


class TestLayerStats:
    def _row(self, job: str, layer: str, status: ProgressStatus, duration: float | None = None):
        return ProgressRecord(
            run_id="r1", job_id=job, layer=layer, status=status, started_at=NOW,
            duration_s=duration, updated_at=NOW,
        )  # fmt: skip

    def test_durations_per_bucket_and_failures_follow_each_rows_current_status(
        self, store: Store
    ) -> None:
        assert store.layer_stats() == []
        bounds = LAYER_DURATION_BUCKETS
        for job, seconds in (("a", 0.05), ("b", 0.1), ("c", 3.0), ("d", 9999.0)):
            store.record_progress(self._row(job, "extract", ProgressStatus.RUNNING))
            store.record_progress(self._row(job, "extract", ProgressStatus.COMPLETED, seconds))
        store.record_progress(self._row("a", "score", ProgressStatus.FAILED, 2.0))
        store.record_progress(self._row("b", "score", ProgressStatus.CACHED, 0.0))
        store.record_progress(self._row("c", "score", ProgressStatus.SKIPPED))
        # A row that completes again (same run, job, layer) counts once, at its new duration.
        store.record_progress(self._row("c", "extract", ProgressStatus.COMPLETED, 1.0))
        extract, score = store.layer_stats()
        expected = [0] * (len(bounds) + 1)
        expected[0] = 2  # 0.05 and 0.1 (a bound is inclusive: le="0.1")
        expected[bounds.index(1.0)] = 1
        expected[len(bounds)] = 1  # above every bound
        assert (extract.layer, extract.buckets, extract.failures) == ("extract", expected, 0)
        assert extract.seconds == pytest.approx(0.05 + 0.1 + 1.0 + 9999.0)
        assert extract.completed == 4
        assert (score.layer, score.completed, score.seconds, score.failures) == ("score", 0, 0, 1)
        # A failed row that is retried and completes moves from failures to durations.
        store.record_progress(self._row("a", "score", ProgressStatus.RUNNING))
        store.record_progress(self._row("a", "score", ProgressStatus.COMPLETED, 0.3))
        (_, score) = store.layer_stats()
        assert (score.failures, score.completed, score.buckets[bounds.index(0.5)]) == (0, 1, 1)

    def test_duration_bucket_matches_the_bounds(self) -> None:
        assert duration_bucket(0.0) == 0
        assert duration_bucket(LAYER_DURATION_BUCKETS[3]) == 3
        assert duration_bucket(LAYER_DURATION_BUCKETS[3] + 0.001) == 4
        assert duration_bucket(1e9) == len(LAYER_DURATION_BUCKETS)


class TestRuns:
    def test_save_get_replace_and_list_newest_first(self, store: Store) -> None:
        older = Run(id="r1", started_at=NOW, params={"limit": 5}, model="offline")
        newer = Run(id="r2", started_at=LATER)
        store.save_run(older)
        store.save_run(newer)
        assert store.get_run("r1") == older
        assert store.get_run("missing") is None
        done = older.model_copy(
            update={"status": RunStatus.COMPLETED, "ended_at": LATER, "summary": {"jobs": 5}}
        )
        store.save_run(done)
        assert store.get_run("r1") == done
        assert [r.id for r in store.list_runs()] == ["r2", "r1"]
        assert [r.id for r in store.list_runs(limit=1)] == ["r2"]
