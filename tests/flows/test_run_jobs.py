"""`run --job ID`: any job, whatever its status, is processed again; applications keep theirs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.errors import InputError
from applyflow.models import APPLICATION_STATUSES, Status, utcnow
from flows.pipeline import process_jobs
from tests.factories import bring_to
from tests.flows.conftest import ROOT, SCRIPT, Env

MODEL_LAYERS = ("extract", "research", "score", "generate")


def test_every_status_is_processed_when_named_and_applications_keep_theirs(pipeline_env: Env):
    statuses = [s for s in Status if s != Status.PROCESSING] + [Status.PROCESSING]
    ids = pipeline_env.add_jobs(len(statuses))
    now = utcnow()
    for job_id, status in zip(ids, statuses, strict=True):
        bring_to(pipeline_env.store, job_id, status, now)
    before = {job_id: pipeline_env.store.get_job(job_id) for job_id in ids}

    summary = process_jobs(job_ids=ids, force=True, limit=1)  # limit is for the queue only
    ended = {job.id: job for job in summary.jobs}
    assert set(ended) == set(ids)
    for job_id, status in zip(ids, statuses, strict=True):
        job, outcome = pipeline_env.store.get_job(job_id), ended[job_id]
        title = job.title
        assert all(SCRIPT.calls[(title, layer)] >= 1 for layer in MODEL_LAYERS), status
        assert set(job.outputs) == {*MODEL_LAYERS, "publish"} and job.files, status
        assert outcome.files == job.files and outcome.error is None, status
        if status in APPLICATION_STATUSES:
            # Its documents were made again; the application's record is untouched.
            assert (outcome.status, job.status) == (status, status)
            was = before[job_id]
            assert job.applied_at == was.applied_at and job.history == was.history
            assert job.status_changed_at == was.status_changed_at and job.claimed_by is None
        else:
            assert outcome.status in (Status.READY, Status.NEEDS_REVIEW), status
            assert job.status == outcome.status and job.claimed_by is None


def test_a_named_ready_job_is_cached_without_force_and_redone_with_it(pipeline_env: Env):
    [job_id] = pipeline_env.add_jobs(1)
    first = process_jobs(limit=5)
    assert [j.status for j in first.jobs] == [Status.READY]
    assert process_jobs(limit=5).jobs == []  # nothing queued

    SCRIPT.calls.clear()
    again = process_jobs(job_ids=[job_id])
    assert [j.status for j in again.jobs] == [Status.READY]
    assert sum(SCRIPT.calls.values()) == 0 and again.calls == 0  # inputs unchanged: cached

    forced = process_jobs(job_ids=[job_id], force=True)
    assert [j.status for j in forced.jobs] == [Status.READY]
    assert sorted(layer for (_, layer) in SCRIPT.calls) == sorted(MODEL_LAYERS)
    assert forced.calls == len(MODEL_LAYERS)


def test_the_flow_refuses_unknown_ids_and_applications_without_force(pipeline_env: Env):
    [job_id] = pipeline_env.add_jobs(1)
    bring_to(pipeline_env.store, job_id, Status.APPLIED, utcnow())
    with pytest.raises(InputError, match="no job with id feedface0000") as refused:
        process_jobs(job_ids=[job_id, "feedface0000"])
    assert f"{job_id} is applied" in str(refused.value) and "--force" in str(refused.value)
    assert pipeline_env.store.list_runs(5) == []  # refused before the run started
    assert pipeline_env.store.get_job(job_id).status == Status.APPLIED


def test_cli_names_an_unknown_id_and_exits_2_before_prefect_loads(pipeline_env: Env):
    [job_id] = pipeline_env.add_jobs(1)
    bring_to(pipeline_env.store, job_id, Status.INTERVIEW, utcnow())
    result = CliRunner().invoke(app, ["run", "--job", "deadbeef00000000", "--json"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: --job: no job with id deadbeef00000000")
    applied = CliRunner().invoke(app, ["run", "--job", job_id])
    assert applied.exit_code == 2
    assert f"{job_id} is interview" in applied.output and "--force" in applied.output
    assert pipeline_env.store.list_runs(5) == []

    # In a process of its own: the refusal comes before Prefect is even imported.
    probe = (
        "import sys\nfrom applyflow.cli import app\n"
        "try:\n    app(['run', '--job', 'deadbeef00000000'])\n"
        "except SystemExit as exc:\n    print(json.dumps([exc.code, 'prefect' in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2, False], done.stderr
    assert "deadbeef00000000" in done.stderr


def test_a_run_that_breaks_gives_an_application_back_in_its_status(
    pipeline_env: Env, tmp_path: Path
):
    [job_id] = pipeline_env.add_jobs(1)
    bring_to(pipeline_env.store, job_id, Status.OFFER, utcnow())
    before = pipeline_env.store.get_job(job_id)
    # An unwritable output folder breaks publish for this job: a layer failure, not the run's.
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    pipeline_env.set(output_dir=blocked)
    summary = process_jobs(job_ids=[job_id], force=True)
    [outcome] = summary.jobs
    job = pipeline_env.store.get_job(job_id)
    assert outcome.status == job.status == Status.OFFER
    assert outcome.error and "publish" in outcome.error and job.error == outcome.error
    assert outcome.files == []
    assert job.status_changed_at == before.status_changed_at and job.claimed_by is None
    assert job.lease_until is None and job.history == before.history
