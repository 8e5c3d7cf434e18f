"""`run --dry-run`: a forecast that changes nothing in the store or on disk, on both backends."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mongomock
import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.models import Status, utcnow
from applyflow.runtime import Runtime, use_runtime
from applyflow.settings import get_settings
from applyflow.store import Store
from applyflow.store.mongo import MongoStore
from applyflow.store.sqlite import SQLiteStore
from flows.pipeline import process_jobs
from tests.flows.conftest import SCRIPT, Env, ScriptedModel
from tests.mongomock_atomic import make_writes_atomic
from tests.samples import sample_postings

PRICE_AS = "openai:gpt-4o-mini"
MODEL_LAYERS = ("extract", "research", "score", "generate")


def _rows(store: Store) -> dict[str, list[Any]]:
    """Every table (SQLite) or collection (MongoDB) but the runs, row by row."""
    if isinstance(store, SQLiteStore):
        path = store.url.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            names = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            return {
                name: conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
                for name in sorted(names)
                if name != "runs"
            }
    assert isinstance(store, MongoStore)
    db = store._db
    return {
        name: sorted(db[name].find(), key=lambda doc: str(doc["_id"]))
        for name in sorted(db.list_collection_names())
        if name != "runs"
    }


def _files(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _snapshot(store: Store, env: Env) -> dict[str, Any]:
    return {"rows": _rows(store), "files": _files(env.tmp / "out")}


@pytest.fixture(params=["sqlite", "mongomock"])
def backend(request: pytest.FixtureRequest, pipeline_env: Env) -> Iterator[Store]:
    """The store the flow works on: the env's SQLite file, or one mongomock database."""
    if request.param == "sqlite":
        yield pipeline_env.store
        return
    make_writes_atomic()
    client = mongomock.MongoClient()
    url = "mongodb://mongomock.test/applyflow_dry_run"
    runtime = Runtime(
        model_factory=lambda spec, max_tokens: ScriptedModel(max_tokens=max_tokens),
        store_factory=lambda _url: MongoStore(url, client=client),
    )
    with use_runtime(runtime):
        yield MongoStore(url, client=client)


def test_a_dry_run_changes_nothing_and_forecasts_what_the_real_run_then_does(
    pipeline_env: Env, backend: Store
):
    pipeline_env.set(min_fit=0)  # every job ends ready (the fit gate: test_min_fit.py)
    ids = backend.upsert_jobs(sample_postings()[:4], utcnow()).ids
    done = process_jobs(limit=2)  # two jobs with outputs, usage, budget counters and files
    assert len(done.jobs) == 2
    # Ingested together, so claimed by id: what is left, in the order a run takes it.
    queued = sorted(set(ids) - {j.id for j in done.jobs})
    before = _snapshot(backend, pipeline_env)
    assert before["files"] and before["rows"]
    SCRIPT.calls.clear()

    dry = process_jobs(dry_run=True, price_as=PRICE_AS)
    assert dry.dry_run and sorted(j.id for j in dry.jobs) == queued  # the queue
    assert {j.status for j in dry.jobs} <= {Status.READY, Status.NEEDS_REVIEW}
    assert all(j.files == [] for j in dry.jobs)  # nothing was written
    for job in dry.jobs:
        assert job.calls == len(MODEL_LAYERS) and job.input_tokens > 0 and job.output_tokens > 0
        assert job.forecast_usd and job.forecast_usd > 0
    # Each is rounded to the micro-dollar.
    assert dry.forecast_usd == pytest.approx(sum(j.forecast_usd or 0 for j in dry.jobs), abs=3e-6)
    assert dry.calls == 2 * len(MODEL_LAYERS) and dry.spend_usd == 0
    # A ready job named again: up to date, so the forecast is nothing; with --force, all of it.
    ready = done.jobs[0].id
    cached = process_jobs(dry_run=True, price_as=PRICE_AS, job_ids=[ready])
    assert [(j.id, j.calls, j.forecast_usd) for j in cached.jobs] == [(ready, 0, 0.0)]
    redo = process_jobs(dry_run=True, price_as=PRICE_AS, job_ids=[ready], force=True)
    assert [(j.id, j.calls) for j in redo.jobs] == [(ready, len(MODEL_LAYERS))]
    assert not [key for key in SCRIPT.calls if key[1] == "publish"]

    assert _snapshot(backend, pipeline_env) == before
    runs = {run.id: run for run in backend.list_runs(10)}
    for summary in (dry, cached, redo):
        recorded = runs[summary.run_id]
        assert recorded.dry_run and recorded.status == "completed"
        assert recorded.summary["forecast_usd"] == summary.forecast_usd
    assert not runs[done.run_id].dry_run

    # The real run finds the queue as it was and makes exactly the forecast calls.
    real = process_jobs(price_as=PRICE_AS)
    assert sorted(j.id for j in real.jobs) == queued
    used = {j.id: (j.calls, j.input_tokens, j.output_tokens) for j in real.jobs}
    assert used == {j.id: (j.calls, j.input_tokens, j.output_tokens) for j in dry.jobs}
    assert real.forecast_usd == pytest.approx(dry.forecast_usd)
    assert all(backend.get_job(job_id).status != Status.NEW for job_id in queued)


def test_cli_dry_run_json_then_the_real_run_finds_the_queue(pipeline_env: Env):
    ids = pipeline_env.add_jobs(2)
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--dry-run", "--price-as", PRICE_AS, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dry_run"] is True and data["forecast_usd"] > 0
    assert sorted(j["id"] for j in data["jobs"]) == sorted(ids)
    for job in data["jobs"]:
        assert job["calls"] == len(MODEL_LAYERS) and job["forecast_usd"] > 0
        assert job["input_tokens"] > 0 and job["output_tokens"] > 0
    assert {j.status for j in pipeline_env.store.list_jobs()} == {Status.NEW}

    shown = runner.invoke(app, ["run", "--dry-run", "--price-as", PRICE_AS])
    assert shown.exit_code == 0, shown.output
    assert "dry run" in shown.output and f"forecast on {PRICE_AS}: $" in shown.output

    real = runner.invoke(app, ["run", "--json"])
    assert real.exit_code == 0, real.output
    assert sorted(j["id"] for j in json.loads(real.stdout)["jobs"]) == sorted(ids)


def test_a_dry_run_without_price_as_prices_the_runs_own_models(pipeline_env: Env):
    [job_id] = pipeline_env.add_jobs(1)
    pipeline_env.set(prices=json.dumps({"offline": {"input": 1.0, "output": 2.0}}))
    get_settings.cache_clear()
    dry = process_jobs(dry_run=True)
    [job] = dry.jobs
    expected = (job.input_tokens * 1.0 + job.output_tokens * 2.0) / 1_000_000
    assert job.id == job_id and dry.forecast_usd == pytest.approx(expected)
    # The offline calls that stood in were priced too, but only on the scratch copy.
    assert pipeline_env.store.usage_total().calls == 0
