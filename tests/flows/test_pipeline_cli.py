"""`applyflow demo`, `run`, `status` and `ingest` end to end on the shared Prefect harness."""

from __future__ import annotations

import hashlib
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
from tests.flows.conftest import ROOT, SCRIPT, Env

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SAMPLE_PROFILE = ROOT / "samples" / "profile.md"


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


def test_run_with_unpriced_models_fails_in_one_line_each_before_the_flow_starts(
    pipeline_env: Env, monkeypatch: pytest.MonkeyPatch
):
    import flows.pipeline

    started: list[dict[str, Any]] = []
    monkeypatch.setattr(flows.pipeline, "process_jobs", lambda **kw: started.append(kw))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    result = CliRunner().invoke(
        app, ["run", "--model", "openai:no-such-model-a", "--price-as", "openai:no-such-model-b"]
    )
    assert result.exit_code == 2
    assert started == []
    first, second = result.output.strip().splitlines()
    assert first.startswith("error: no known price for model 'openai:no-such-model-a'")
    assert second.startswith("error: no known price for model 'openai:no-such-model-b'")


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


def test_run_with_profile_records_it_on_the_run_and_on_each_output(pipeline_env: Env):
    [job_id] = pipeline_env.add_jobs(1)
    other = pipeline_env.tmp / "other-profile.md"
    other.write_text(SAMPLE_PROFILE.read_text().replace("Alex Morgan", "Sam Rivera"))
    result = CliRunner().invoke(app, ["run", "--profile", str(other), "--json"])
    assert result.exit_code == 0, result.output
    used = {"path": str(other.resolve()), "sha256": hashlib.sha256(other.read_bytes()).hexdigest()}
    summary = json.loads(result.stdout)
    assert summary["profile"] == used
    assert pipeline_env.store.get_run(summary["run_id"]).profile.model_dump() == used
    job = pipeline_env.store.get_job(job_id)
    assert {name: out.profile.model_dump() for name, out in job.outputs.items()} == {
        layer: used for layer in LAYERS
    }
    assert "Sam Rivera" in json.dumps(job.outputs["generate"].output)  # that profile was read
    shown = CliRunner().invoke(app, ["status"])
    assert f"profile {other.resolve()} (sha256 {used['sha256'][:12]})" in " ".join(
        shown.output.split()
    )


def test_run_exits_1_when_a_job_fails_and_prints_its_json_all_the_same(pipeline_env: Env):
    bad, good = pipeline_env.add_jobs(2)
    SCRIPT.garbage.add((pipeline_env.store.get_job(bad).title, "extract"))  # and its repair
    result = CliRunner().invoke(app, ["run", "--json"])
    assert result.exit_code == 1, result.output
    outcomes = {j["id"]: j["status"] for j in json.loads(result.stdout)["jobs"]}
    assert outcomes == {bad: "failed", good: "ready"}
    again = CliRunner().invoke(app, ["run", "--json"])  # nothing queued: nothing failed
    assert again.exit_code == 0 and json.loads(again.stdout)["jobs"] == []
