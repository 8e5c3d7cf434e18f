"""`applyflow demo`, `run`, `status` and `ingest` end to end on the shared Prefect harness."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from applyflow.application import FILES
from applyflow.cli import app
from applyflow.models import ProgressRecord, ProgressStatus, Run, RunStatus
from applyflow.runtime import Runtime, use_runtime
from applyflow.settings import LAYERS
from tests.flows.conftest import Env

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_demo_then_status_run_and_ingest(pipeline_env: Env, tmp_path: Path):
    runner = CliRunner()
    demo = runner.invoke(app, ["demo", "--price-as", "openai:gpt-4o-mini"])
    assert demo.exit_code == 0, demo.output
    jobs = pipeline_env.store.list_jobs()
    assert len(jobs) >= 20 and {j.status.value for j in jobs} == {"ready"}
    for job in jobs:
        assert job.title[:20] in demo.output
        folder = Path(job.outputs["publish"].output["folder"])
        assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert "these calls on openai:gpt-4o-mini would cost about $" in demo.output
    assert "make dashboard" in demo.output
    from prefect.settings import PREFECT_API_URL  # the harness's API: the demo's runs are there

    ui = str(PREFECT_API_URL.value()).removesuffix("/api")
    assert f"Prefect UI: {ui}   (the demo's flow runs)" in demo.output

    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["run"]["status"] == "completed"
    assert len(data["progress"]) == 5 * len(jobs)
    assert {row["status"] for row in data["progress"]} == {"completed"}
    shown = runner.invoke(app, ["status", data["run"]["id"]])
    assert shown.exit_code == 0 and "5/5" in shown.output
    followed = runner.invoke(app, ["status", "--follow"])  # an ended run: one frame, then exit
    assert followed.exit_code == 0 and f"run {data['run']['id']} completed" in followed.output

    nothing = runner.invoke(app, ["run", "--json"])
    assert nothing.exit_code == 0, nothing.output
    assert json.loads(nothing.stdout)["jobs"] == []

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "Only a title"}\n')
    ingested = runner.invoke(app, ["ingest", str(bad), str(tmp_path / "missing.csv"), "--json"])
    assert ingested.exit_code == 1  # a source could not be read at all
    report = json.loads(ingested.stdout)
    assert report["inserted"] == 0
    assert [(r["where"], r["reason"]) for r in report["rejections"]] == [
        ("line 1", "missing company, description"),
        (None, "cannot read file: No such file or directory"),
    ]


def test_run_with_unpriced_models_fails_in_one_line_before_the_flow_starts(
    pipeline_env: Env, monkeypatch: pytest.MonkeyPatch
):
    import flows.pipeline

    started: list[dict[str, Any]] = []
    monkeypatch.setattr(flows.pipeline, "process_jobs", lambda **kw: started.append(kw))
    result = CliRunner().invoke(
        app, ["run", "--model", "openai:no-such-model-a", "--price-as", "openai:no-such-model-b"]
    )
    assert result.exit_code == 1
    assert started == []
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: no known price for model 'openai:no-such-model-a'")
    assert "'openai:no-such-model-b'" in line


class _Clock:
    """--follow's clock and sleep: each poll moves time on; too many polls is a hang."""

    def __init__(self, step_s: float, on_sleep: Any = None) -> None:
        self.now, self.step_s, self.sleeps, self.on_sleep = NOW, step_s, 0, on_sleep

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        assert self.sleeps <= 50, "status --follow kept polling"
        self.now += timedelta(seconds=self.step_s)
        if self.on_sleep:
            self.on_sleep()


def _follow(env: Env, statuses: list[ProgressStatus], clock: _Clock) -> tuple[Run, str]:
    """A run left ``running`` with progress rows and its heartbeat last written at NOW."""
    [job_id] = env.add_jobs(1)
    run = Run(id="run-left", started_at=NOW - timedelta(minutes=5), heartbeat_at=NOW)
    env.store.save_run(run)
    for layer, status in zip(LAYERS, statuses, strict=True):
        row = ProgressRecord(
            run_id=run.id, job_id=job_id, layer=layer, status=status, updated_at=NOW
        )
        env.store.record_progress(row)
    with use_runtime(Runtime(clock=lambda: clock.now, sleep=clock.sleep)):
        result = CliRunner().invoke(app, ["status", run.id, "--follow"])
    assert result.exit_code == 0, result.output
    return run, result.output


def test_follow_stops_when_every_layer_finished_but_the_run_never_ended(pipeline_env: Env):
    clock = _Clock(step_s=4)
    run, output = _follow(pipeline_env, [ProgressStatus.COMPLETED] * 5, clock)
    # A short grace for the run to record its end (10 s), then it is given up on.
    assert clock.sleeps == 3
    assert f"every layer of run {run.id} has finished but the run is still marked" in output


def test_follow_shows_a_run_without_a_heartbeat_for_a_lease_as_crashed(pipeline_env: Env):
    pipeline_env.set(claim_lease_s=30)
    statuses = [ProgressStatus.COMPLETED, ProgressStatus.RUNNING] + [ProgressStatus.PENDING] * 3
    clock = _Clock(step_s=10)
    run, output = _follow(pipeline_env, statuses, clock)
    assert clock.sleeps == 4  # silent for 0, 10, 20, 30 s: still running; 40 s: crashed
    assert f"run {run.id} crashed" in output
    assert "no sign of life for over 30s (APPLYFLOW_CLAIM_LEASE_S)" in output
    stored = pipeline_env.store.get_run(run.id)
    assert (stored.status, stored.ended_at) == (RunStatus.CRASHED, NOW)  # its last heartbeat
    with use_runtime(Runtime(clock=lambda: clock.now)):
        shown = json.loads(CliRunner().invoke(app, ["status", run.id, "--json"]).stdout)
    assert shown["run"]["status"] == "crashed"


def test_follow_keeps_following_a_live_run_until_it_ends(pipeline_env: Env):
    def end_run() -> None:
        if clock.sleeps == 2:
            [run] = pipeline_env.store.list_runs(1)
            pipeline_env.store.save_run(run.model_copy(update={"status": RunStatus.COMPLETED}))

    clock = _Clock(step_s=1, on_sleep=end_run)
    run, output = _follow(pipeline_env, [ProgressStatus.COMPLETED] * 5, clock)
    assert clock.sleeps == 2
    assert "stopped following" not in output
    assert f"run {run.id} completed" in output
