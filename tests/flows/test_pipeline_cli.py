"""`applyflow demo`, `run`, `status` and `ingest` end to end on the shared Prefect harness."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from applyflow.cli import app
from tests.flows.conftest import Env


def test_demo_then_status_run_and_ingest(pipeline_env: Env, tmp_path: Path):
    runner = CliRunner()
    demo = runner.invoke(app, ["demo", "--price-as", "openai:gpt-4o-mini"])
    assert demo.exit_code == 0, demo.output
    jobs = pipeline_env.store.list_jobs()
    assert len(jobs) >= 20 and {j.status.value for j in jobs} == {"ready"}
    for job in jobs:
        assert job.title[:20] in demo.output
        folder = Path(job.outputs["publish"].output["folder"])
        assert sorted(p.name for p in folder.iterdir()) == [
            "cover_letter.md",
            "cv.md",
            "dossier.md",
        ]
    assert "these calls on openai:gpt-4o-mini would cost about $" in demo.output
    assert "make dashboard" in demo.output and "make server" in demo.output

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
