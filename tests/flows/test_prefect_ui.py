"""What a run shows in the Prefect UI, read back through the Prefect client on the session
harness: the flow run named by the run id, task runs named by the job, Markdown artifact
descriptions, a per-job progress table while the run goes, one log line per hook."""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)

from applyflow.models import ProgressStatus
from applyflow.settings import LAYERS
from flows.artifacts import PROGRESS_KEY, SUMMARY_KEY
from flows.pipeline import process_jobs
from tests.flows.conftest import SCRIPT, Env
from tests.waiting import wait_until

DEADLINE_S = 60


def _artifact(flow_run_id: str, key: str) -> Any:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        )
    assert len(found) == 1, found
    return found[0]


def _task_run_names(flow_run_id: str) -> set[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {run.name for run in runs}


def _labels(env: Env, job_ids: list[str]) -> dict[str, str]:
    jobs = {job_id: env.store.get_job(job_id) for job_id in job_ids}
    return {job_id: f"{job.title} @ {job.company}" for job_id, job in jobs.items()}


def test_the_flow_run_is_named_by_the_run_id_and_task_runs_by_the_job(pipeline_env: Env):
    ids = pipeline_env.add_jobs(2)
    summary = process_jobs(limit=5)
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(summary.flow_run_id)
    assert flow_run.name == summary.run_id
    assert pipeline_env.store.get_run(summary.run_id).flow_run_name == summary.run_id

    labels = _labels(pipeline_env, ids)
    expected = {f"{what} · {label}" for label in labels.values() for what in ("job", *LAYERS)}
    assert "extract · " + labels[ids[0]] in expected  # e.g. extract · Go Backend Engineer @ ...
    # Task runs reach the API as events, recorded a moment after the run returns.
    wait_until(
        lambda: _task_run_names(summary.flow_run_id) == expected,
        "the task runs named by job",
        timeout=DEADLINE_S,
        detail=lambda: str(sorted(_task_run_names(summary.flow_run_id))),
    )


def test_artifacts_describe_the_run_in_markdown(pipeline_env: Env):
    ids = pipeline_env.add_jobs(2)
    summary = process_jobs(limit=5)
    table = _artifact(summary.flow_run_id, SUMMARY_KEY)
    assert table.description.startswith(f"**Run `{summary.run_id}`** completed: 2 ready.")
    assert "model call(s) on `offline`" in table.description
    assert "spend **$0.0000**" in table.description
    assert "{" not in table.description  # no Python dict
    assert '"cost": "$0.0000"' in table.data and '"status": "ready"' in table.data

    progress = _artifact(summary.flow_run_id, PROGRESS_KEY)
    assert progress.data == 100.0
    lines = progress.description.splitlines()
    assert lines[0] == f"**Run `{summary.run_id}`**: 10 of 10 layers finished, 2 job(s)"
    assert lines[2] == "| job | " + " | ".join(LAYERS) + " |"
    for job_id, label in _labels(pipeline_env, ids).items():
        assert f"| {label} `{job_id}` | " + " | ".join(["✓ done"] * 5) + " |" in lines


def test_the_progress_artifact_shows_each_jobs_layers_while_the_run_goes(pipeline_env: Env):
    [job_id] = pipeline_env.add_jobs(1)
    [label] = _labels(pipeline_env, [job_id]).values()
    entered, release = threading.Event(), threading.Event()
    SCRIPT.gates["score"] = (entered, release)
    out: dict[str, Any] = {}

    def target() -> None:
        out["summary"] = process_jobs(limit=1)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(target,))
    thread.start()
    try:
        assert entered.wait(DEADLINE_S)
        [run] = pipeline_env.store.list_runs(1)
        row = f"| {label} `{job_id}` | ✓ done | ✓ done | ▶ running | · pending | · pending |"

        def shown() -> bool:
            with get_client(sync_client=True) as client:
                found = client.read_artifacts(
                    artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[PROGRESS_KEY])),
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.flow_run_id])),
                )
            return bool(found) and row in (found[0].description or "").splitlines()

        wait_until(shown, "the running layer in the progress artifact", timeout=DEADLINE_S)
        assert _artifact(str(run.flow_run_id), PROGRESS_KEY).data == 40.0  # 2 of 5 layers finished
    finally:
        release.set()
        thread.join(DEADLINE_S)
    assert out["summary"].jobs[0].status.value == "ready"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((str(getattr(record, "task_run_name", "")), record.getMessage()))


def test_each_hook_run_logs_one_line(pipeline_env: Env):
    [job_id] = pipeline_env.add_jobs(1)
    logger, handler = logging.getLogger("prefect.task_runs"), _Lines()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        summary = process_jobs(limit=1)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert summary.jobs[0].status.value == "ready"
    hooks = [(name, text) for name, text in handler.lines if "hook" in text.lower()]
    [label] = _labels(pipeline_env, [job_id]).values()
    expected = []
    for layer in LAYERS:
        name = f"{layer} · {label}"
        expected += [
            (name, "Running hook '_on_running' in response to entering state 'Running'"),
            (name, "Running hook '_on_completion' in response to entering state 'Completed'"),
        ]
    assert hooks == expected
    # The hooks still did their work: every layer's row was written.
    rows = pipeline_env.store.list_progress(summary.run_id)
    assert {r.layer: r.status for r in rows} == dict.fromkeys(LAYERS, ProgressStatus.COMPLETED)
