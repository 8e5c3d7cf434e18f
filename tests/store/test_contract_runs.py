"""The store contract, ``RunStore``: runs and their (run, job, layer) progress rows."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from applyflow.models import ProgressRecord, ProgressStatus, Run, RunStatus, RunWait
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

    def test_a_dry_run_is_kept_as_one(self, store: Store) -> None:
        store.save_run(Run(id="dry", started_at=NOW, dry_run=True))
        store.save_run(Run(id="real", started_at=LATER))
        assert [(r.id, r.dry_run) for r in store.list_runs()] == [("real", False), ("dry", True)]


class TestHeartbeats:
    def test_touch_renews_only_a_running_run(self, store: Store) -> None:
        store.save_run(Run(id="live", started_at=NOW))
        store.save_run(Run(id="done", started_at=NOW, status=RunStatus.COMPLETED, ended_at=NOW))
        assert store.touch_run("live", LATER) is True
        assert store.get_run("live").heartbeat_at == LATER
        assert store.touch_run("done", LATER) is False
        assert store.touch_run("missing", LATER) is False
        assert store.get_run("done").heartbeat_at is None

    def test_waiting_is_recorded_on_a_running_run_and_cleared(self, store: Store) -> None:
        store.save_run(
            Run(id="live", started_at=NOW, guards={"caps": {"day": 1.5}}, flow_run_name="live")
        )
        store.save_run(Run(id="done", started_at=NOW, status=RunStatus.COMPLETED, ended_at=NOW))
        wait = RunWait(kind="rate", since=LATER, detail="openai 60 requests/minute")
        assert store.set_run_waiting("live", wait) is True
        store.touch_run("live", LATER)  # a heartbeat keeps what the run waits on
        live = store.get_run("live")
        assert (live.waiting, live.heartbeat_at, live.guards) == (
            wait,
            LATER,
            {"caps": {"day": 1.5}},
        )
        assert store.set_run_waiting("live", None) is True
        assert store.get_run("live").waiting is None
        assert store.set_run_waiting("done", wait) is False
        assert store.get_run("done").waiting is None
        assert store.set_run_waiting("missing", wait) is False

    def test_runs_silent_past_the_bound_are_crashed_at_their_last_heartbeat(
        self, store: Store
    ) -> None:
        store.save_run(Run(id="dead", started_at=NOW))
        store.touch_run("dead", NOW + timedelta(minutes=1))
        store.save_run(Run(id="never-beat", started_at=NOW))  # started, then nothing
        store.save_run(Run(id="alive", started_at=NOW))
        store.touch_run("alive", LATER)
        ended = Run(id="ended", started_at=NOW, status=RunStatus.FAILED, ended_at=NOW)
        store.save_run(ended)

        bound = NOW + timedelta(minutes=2)
        assert store.crash_stale_runs(bound) == ["never-beat", "dead"]  # oldest sign first
        dead, never = store.get_run("dead"), store.get_run("never-beat")
        assert (dead.status, dead.ended_at) == (RunStatus.CRASHED, NOW + timedelta(minutes=1))
        assert (never.status, never.ended_at) == (RunStatus.CRASHED, NOW)
        assert store.get_run("alive").status == RunStatus.RUNNING
        assert store.get_run("ended") == ended
        assert store.crash_stale_runs(bound) == []  # once
        assert store.touch_run("dead", LATER) is False  # a crashed run stays crashed...
        finished = dead.model_copy(update={"status": RunStatus.COMPLETED, "ended_at": LATER})
        store.save_run(finished)  # ...unless its own process ends it after all
        assert store.get_run("dead") == finished

    def test_threads_sweeping_at_once_mark_each_run_once(self, store: Store) -> None:
        for i in range(20):
            store.save_run(Run(id=f"r{i:02d}", started_at=NOW))
        marked: list[list[str]] = []
        barrier = threading.Barrier(4)

        def sweep() -> None:
            barrier.wait(timeout=30)
            marked.append(store.crash_stale_runs(LATER))

        threads = [threading.Thread(target=sweep) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(run for ids in marked for run in ids) == [f"r{i:02d}" for i in range(20)]
