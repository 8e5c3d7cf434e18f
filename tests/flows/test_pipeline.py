"""process_jobs on the shared Prefect harness: live progress, resume, concurrency, budgets."""

from __future__ import annotations

import contextvars
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)

from applyflow.errors import PricingError, StoreError
from applyflow.models import ProgressStatus, RunStatus, Status, utcnow
from applyflow.settings import LAYERS
from applyflow.store.sqlite import SQLiteStore
from flows.pipeline import PROGRESS_KEY, SUMMARY_KEY, process_jobs
from tests.flows.conftest import SCRIPT, Env
from tests.waiting import wait_until

DEADLINE_S = 60


def _in_thread(**params: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["summary"] = process_jobs(**params)
        except BaseException as exc:  # surfaced by the test's assertion on `out`
            out["error"] = exc

    # The thread runs with this test's runtime (the scripted model), as the test itself does.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(target,))
    thread.start()
    return thread, out


def _layers(env: Env, run_id: str, job_id: str) -> dict[str, ProgressStatus]:
    return {r.layer: r.status for r in env.store.list_progress(run_id) if r.job_id == job_id}


def _artifact(flow_run_id: str, key: str) -> Any:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        )
    assert len(found) == 1, found
    return found[0].data


def test_progress_is_visible_while_a_layer_runs_and_complete_after(pipeline_env: Env):
    [job_id] = pipeline_env.add_jobs(1)
    entered, release = threading.Event(), threading.Event()
    SCRIPT.gates["score"] = (entered, release)
    thread, out = _in_thread(limit=5)
    try:
        assert entered.wait(DEADLINE_S), out
        [run] = pipeline_env.store.list_runs(1)
        assert run.status == RunStatus.RUNNING
        assert _layers(pipeline_env, run.id, job_id) == {
            "extract": ProgressStatus.COMPLETED,
            "research": ProgressStatus.COMPLETED,
            "score": ProgressStatus.RUNNING,
            "generate": ProgressStatus.PENDING,
            "publish": ProgressStatus.PENDING,
        }
        assert pipeline_env.store.get_job(job_id).status == Status.PROCESSING
    finally:
        release.set()
        thread.join(DEADLINE_S)
    summary = out["summary"]
    rows = pipeline_env.store.list_progress(summary.run_id)
    assert [r.status for r in rows] == [ProgressStatus.COMPLETED] * len(LAYERS)
    assert all(r.started_at and r.ended_at and r.duration_s is not None for r in rows)
    assert _artifact(summary.flow_run_id, PROGRESS_KEY) == 100.0
    table = _artifact(summary.flow_run_id, SUMMARY_KEY)
    assert job_id in str(table) and "ready" in str(table)
    job = pipeline_env.store.get_job(job_id)
    assert job.status == Status.READY and job.fit is not None
    files = [Path(f) for f in summary.jobs[0].files]
    assert [f.name for f in files] == [
        "cv.md", "cover_letter.md", "dossier.md",
        "cv.pdf", "cover_letter.pdf", "cv.docx", "cover_letter.docx",
    ]  # fmt: skip
    assert all(f.is_file() and (pipeline_env.tmp / "out").resolve() in f.parents for f in files)
    stored_run = pipeline_env.store.get_run(summary.run_id)
    assert stored_run.status == RunStatus.COMPLETED and stored_run.summary["counts"]["ready"] == 1


def test_failed_layer_resumes_on_rerun_and_done_layers_are_never_paid_again(pipeline_env: Env):
    good, bad = pipeline_env.add_jobs(2)
    bad_title = pipeline_env.store.get_job(bad).title
    SCRIPT.garbage.add((bad_title, "score"))

    first = process_jobs(limit=10)
    statuses = {j.id: j.status for j in first.jobs}
    assert statuses == {good: "ready", bad: "failed"}
    failed = pipeline_env.store.get_job(bad)
    assert failed.error.startswith("score layer failed") and "repair" in failed.error
    assert SCRIPT.calls[(bad_title, "score")] == 2  # the reply, then one repair retry
    assert _layers(pipeline_env, first.run_id, bad) == {
        "extract": ProgressStatus.COMPLETED,
        "research": ProgressStatus.COMPLETED,
        "score": ProgressStatus.FAILED,
        "generate": ProgressStatus.SKIPPED,
        "publish": ProgressStatus.SKIPPED,
    }

    # Interrupted after two layers: a rerun of that job pays only for what is missing.
    SCRIPT.garbage.clear()
    SCRIPT.calls.clear()
    usage_before = pipeline_env.store.usage_total().calls
    second = process_jobs(job_ids=[bad])
    assert [j.status for j in second.jobs] == ["ready"]
    assert _layers(pipeline_env, second.run_id, bad) == {
        "extract": ProgressStatus.CACHED,
        "research": ProgressStatus.CACHED,
        "score": ProgressStatus.COMPLETED,
        "generate": ProgressStatus.COMPLETED,
        "publish": ProgressStatus.COMPLETED,
    }
    assert sorted(layer for (_, layer) in SCRIPT.calls) == ["generate", "score"]
    assert pipeline_env.store.usage_total().calls == usage_before + 2

    # Same jobs again with unchanged inputs: no model call, no usage row, all cached.
    SCRIPT.calls.clear()
    usage_before = pipeline_env.store.usage_total()
    for job_id in (good, bad):
        pipeline_env.store.set_status(job_id, Status.NEW, utcnow())
    third = process_jobs(limit=10)
    assert {j.status for j in third.jobs} == {"ready"}
    assert sum(SCRIPT.calls.values()) == 0
    assert pipeline_env.store.usage_total() == usage_before
    assert {r.status for r in pipeline_env.store.list_progress(third.run_id)} == {
        ProgressStatus.CACHED
    }
    assert third.spend_usd == 0 and third.calls == 0


def test_two_overlapping_runs_split_the_queue_and_never_process_a_job_twice(pipeline_env: Env):
    pipeline_env.set(min_fit=0)  # every job goes through every layer (no fit gate)
    ids = pipeline_env.add_jobs(6)
    titles = {pipeline_env.store.get_job(job_id).title: job_id for job_id in ids}
    # No model call completes until both runs hold their claims at the same time.
    SCRIPT.gates["extract"] = (threading.Event(), release := threading.Event())
    threads = [_in_thread(limit=3) for _ in range(2)]
    try:

        def both_claimed() -> bool:
            jobs = [pipeline_env.store.get_job(job_id) for job_id in ids]
            holders = {job.claimed_by for job in jobs if job.status == Status.PROCESSING}
            return len(holders) == 2 and all(job.status == Status.PROCESSING for job in jobs)

        wait_until(both_claimed, "both runs hold three jobs each", timeout=DEADLINE_S)
    finally:
        release.set()
        for thread, _ in threads:
            thread.join(DEADLINE_S * 2)
    summaries = [out["summary"] for _, out in threads]
    claimed = [{j.id for j in s.jobs} for s in summaries]
    assert [len(c) for c in claimed] == [3, 3] and not claimed[0] & claimed[1]
    assert claimed[0] | claimed[1] == set(ids)
    for job_id in ids:
        assert pipeline_env.store.get_job(job_id).status == Status.READY
        assert pipeline_env.store.usage_total(job_id=job_id).calls == 4  # one per model layer
    model_layers = ("extract", "research", "score", "generate")
    assert SCRIPT.calls == Counter({(t, layer): 1 for t in titles for layer in model_layers})


def test_a_dead_workers_job_is_reclaimed_and_pays_only_for_the_missing_layers(pipeline_env: Env):
    [job_id] = pipeline_env.add_jobs(1)
    title = pipeline_env.store.get_job(job_id).title
    # An earlier run saved extract and research, then a worker claimed the job and died.
    SCRIPT.garbage.add((title, "score"))
    process_jobs(limit=1)
    SCRIPT.garbage.clear()
    long_ago = utcnow() - timedelta(hours=1)
    [held] = pipeline_env.store.claim_jobs(
        1, "dead-worker", 60, long_ago, job_ids=[job_id], statuses=(Status.FAILED,)
    )
    assert held.status == Status.PROCESSING and held.lease_until < utcnow()
    assert sorted(held.outputs) == ["extract", "research"]
    paid = pipeline_env.store.usage_total(job_id=job_id).calls
    SCRIPT.calls.clear()

    summary = process_jobs(limit=5)  # only "new" is asked for: the expired lease qualifies too

    assert [(j.id, j.status) for j in summary.jobs] == [(job_id, "ready")]
    assert SCRIPT.calls == Counter({(title, "score"): 1, (title, "generate"): 1})
    assert pipeline_env.store.usage_total(job_id=job_id).calls == paid + 2
    assert _layers(pipeline_env, summary.run_id, job_id) == {
        "extract": ProgressStatus.CACHED,
        "research": ProgressStatus.CACHED,
        "score": ProgressStatus.COMPLETED,
        "generate": ProgressStatus.COMPLETED,
        "publish": ProgressStatus.COMPLETED,
    }
    job = pipeline_env.store.get_job(job_id)
    assert job.status == Status.READY and job.claimed_by is None


def test_a_job_whose_driver_crashes_fails_and_all_its_layers_finish(
    pipeline_env: Env, monkeypatch: pytest.MonkeyPatch
):
    crashing, fine = pipeline_env.add_jobs(2)
    renewals: Counter = Counter()
    real_renew = SQLiteStore.renew_lease

    def renew(self: SQLiteStore, job_id: str, *args: Any) -> bool:
        renewals[job_id] += 1
        if job_id == crashing and renewals[job_id] == 3:  # before its score layer
            raise RuntimeError("disk I/O error")
        return real_renew(self, job_id, *args)

    monkeypatch.setattr(SQLiteStore, "renew_lease", renew)
    summary = process_jobs(limit=5)

    assert {j.id: j.status for j in summary.jobs} == {crashing: "failed", fine: "ready"}
    job = pipeline_env.store.get_job(crashing)
    assert job.status == Status.FAILED and job.error == "job failed: disk I/O error"
    rows = [r for r in pipeline_env.store.list_progress(summary.run_id) if r.job_id == crashing]
    assert {r.layer: r.status for r in rows} == {
        "extract": ProgressStatus.COMPLETED,
        "research": ProgressStatus.COMPLETED,
        "score": ProgressStatus.FAILED,
        "generate": ProgressStatus.FAILED,
        "publish": ProgressStatus.FAILED,
    }
    assert all(r.ended_at for r in rows)
    assert {r.error for r in rows if r.status == ProgressStatus.FAILED} == {job.error}
    assert _artifact(summary.flow_run_id, PROGRESS_KEY) == 100.0


def test_a_failed_run_raises_a_flow_failed_alert(
    pipeline_env: Env, monkeypatch: pytest.MonkeyPatch
):
    pipeline_env.add_jobs(1)

    def broken(self: SQLiteStore, *args: Any, **kwargs: Any) -> list[Any]:
        raise StoreError("database disk image is malformed")

    monkeypatch.setattr(SQLiteStore, "claim_jobs", broken)
    with pytest.raises(StoreError):
        process_jobs(limit=1)
    [run] = pipeline_env.store.list_runs(1)
    assert run.status == RunStatus.FAILED
    [alert] = pipeline_env.store.list_alerts()
    assert (alert.kind, alert.level, alert.key) == (
        "flow_failed",
        "error",
        f"flow:process-jobs:{run.id}",
    )
    assert alert.message == f"run {run.id} failed: database disk image is malformed"


def test_every_unpriced_model_is_named_before_anything_is_claimed(pipeline_env: Env):
    pipeline_env.set(
        model="openai:no-such-model-a", layer_models='{"generate": "openai:no-such-model-b"}'
    )
    [job_id] = pipeline_env.add_jobs(1)
    with pytest.raises(PricingError) as settings_models:
        process_jobs(limit=1)
    assert "no-such-model-a" in str(settings_models.value)
    assert "no-such-model-b" in str(settings_models.value)
    # An explicit model replaces the settings' models; price_as is checked as well.
    with pytest.raises(PricingError) as explicit:
        process_jobs(limit=1, model="openai:no-such-model-c", price_as="openai:no-such-model-d")
    message = str(explicit.value)
    assert "no-such-model-c" in message and "no-such-model-d" in message
    assert "no-such-model-a" not in message
    assert pipeline_env.store.get_job(job_id).status == Status.NEW
    assert pipeline_env.store.list_runs() == []


# Offline calls priced at $1 per 1000 tokens: a sample job then costs about $5 in total and
# needs at most about $9 reserved at once (its generate call); a 32 kB posting needs $13 for
# its extract reservation alone.
PRICED = '{"offline": {"input": 1000, "output": 1000}}'


def test_per_job_cap_stops_only_the_job_that_needs_more(pipeline_env: Env):
    pipeline_env.set(prices=PRICED, budget_per_job_usd=10)
    normal = pipeline_env.add_jobs(2)
    [huge] = pipeline_env.add_jobs(1, description="We need Python and SQL. " * 1400, skip=2)
    summary = process_jobs(limit=10)
    statuses = {j.id: j.status for j in summary.jobs}
    assert statuses == {normal[0]: "ready", normal[1]: "ready", huge: "over_budget"}
    job = pipeline_env.store.get_job(huge)
    assert job.status == Status.OVER_BUDGET
    assert job.error.startswith("extract layer failed: job budget exceeded")
    assert "$10.00 cap" in job.error
    assert pipeline_env.store.usage_total(job_id=huge).calls == 0  # refused before sending
    assert summary.status == "completed" and summary.stop_reason is None
    for job_id in normal:
        assert 0 < pipeline_env.store.usage_total(job_id=job_id).cost_usd <= 10


def test_daily_cap_stops_the_run_and_returns_unstarted_jobs_to_the_queue(pipeline_env: Env):
    pipeline_env.set(prices=PRICED, budget_daily_usd=12, job_concurrency=1)
    ids = pipeline_env.add_jobs(3)
    summary = process_jobs(limit=10)
    assert summary.status == "stopped"
    assert summary.stop_reason.startswith("day budget exceeded")
    by_status: dict[str, list[str]] = {}
    for job in summary.jobs:
        by_status.setdefault(job.status, []).append(job.id)
    assert sorted(by_status) == ["new", "ready"] and len(by_status["ready"]) == 1
    assert sorted(by_status["ready"] + by_status["new"]) == sorted(ids)
    for job_id in by_status["new"]:
        job = pipeline_env.store.get_job(job_id)
        assert job.status == Status.NEW and job.claimed_by is None
        assert job.error.startswith("deferred: day budget exceeded")
    # One job stopped at the call that did not fit; the other never started.
    layers = {job_id: _layers(pipeline_env, summary.run_id, job_id) for job_id in by_status["new"]}  # noqa: E501
    started = [j for j, rows in layers.items() if rows["extract"] == ProgressStatus.COMPLETED]
    unstarted = [j for j, rows in layers.items() if set(rows.values()) == {ProgressStatus.SKIPPED}]
    assert len(started) == len(unstarted) == 1
    assert layers[started[0]]["publish"] == ProgressStatus.SKIPPED
    assert pipeline_env.store.usage_total(job_id=unstarted[0]).calls == 0
    assert pipeline_env.store.usage_total().cost_usd <= 12
    assert pipeline_env.store.get_run(summary.run_id).status == RunStatus.STOPPED
