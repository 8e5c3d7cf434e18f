"""The minimum fit: a job scoring below stops after score as skipped, on a priced run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.models import ProgressStatus, Status, utcnow
from flows.pipeline import process_jobs
from tests.flows.conftest import SCRIPT, Env
from tests.samples import sample_posting

PAID = "openai:gpt-4o-mini"  # priced by genai-prices; answered by the scripted model
# Offline fits against samples/profile.md: 90, 25 and 36.
GOOD, NURSE, PM = "Senior Python Backend Engineer", "Registered Nurse", "Product Manager"


def _queue(env: Env) -> dict[str, str]:
    postings = [sample_posting(title) for title in (GOOD, NURSE, PM)]
    ids = env.store.upsert_jobs(postings, utcnow()).ids
    return dict(zip((GOOD, NURSE, PM), ids, strict=True))


def _generate_calls(env: Env) -> int:
    return sum(t.calls for t in env.store.usage_totals() if t.layer == "generate")


def test_jobs_below_the_minimum_fit_are_skipped_and_no_generate_call_is_billed(
    pipeline_env: Env,
):
    pipeline_env.set(model=PAID, api_key="sk-not-a-real-key")
    ids = _queue(pipeline_env)
    # The good job first, so the ledger has a generate call to average the saving on.
    [good] = process_jobs(job_ids=[ids[GOOD]]).jobs
    assert good.status in (Status.READY, Status.NEEDS_REVIEW)
    runner = CliRunner()
    result = runner.invoke(app, ["run", "--json"])  # APPLYFLOW_MIN_FIT: the default, 50
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    outcomes = {j["id"]: j for j in summary["jobs"]}
    assert summary["min_fit"] == 50 and summary["counts"]["skipped"] == 2
    assert set(outcomes) == {ids[NURSE], ids[PM]}
    for title, fit in ((NURSE, 25), (PM, 36)):
        job_id = ids[title]
        outcome, job = outcomes[job_id], pipeline_env.store.get_job(job_id)
        assert (outcome["status"], outcome["fit"]) == ("skipped", fit)
        assert (job.status, job.fit) == (Status.SKIPPED, fit)
        assert job.error and f"fit {fit} is below the minimum fit 50" in job.error
        assert outcome["error"] == job.error and job.history[-1].status == Status.SKIPPED
        assert set(job.outputs) == {"extract", "research", "score"} and job.files == []
        assert outcome["saved_usd"] > 0
        assert SCRIPT.calls[(job.title, "generate")] == 0
        assert pipeline_env.store.usage_total(job_id=job_id).calls == 3  # billed: 3 layers
        rows = {r.layer: r for r in pipeline_env.store.list_progress(summary["run_id"])
                if r.job_id == job_id}  # fmt: skip
        for layer in ("generate", "publish"):
            assert (
                rows[layer].status == ProgressStatus.SKIPPED and "minimum fit" in rows[layer].error
            )
    # Every generate call in the ledger is the one job that passed, and it was paid for.
    assert _generate_calls(pipeline_env) == 1
    paid = pipeline_env.store.usage_total(job_id=ids[GOOD])
    assert paid.calls == 4 and paid.cost_usd > 0
    spared = [outcomes[ids[t]]["saved_usd"] for t in (NURSE, PM)]
    assert summary["saved_usd"] == pytest.approx(sum(spared), abs=2e-6)

    # The status is a first-class one: listed, counted, and in the funnel.
    listed = runner.invoke(app, ["jobs", "--status", "skipped", "--json"])
    assert sorted(j["id"] for j in json.loads(listed.stdout)) == sorted([ids[NURSE], ids[PM]])
    stats = json.loads(runner.invoke(app, ["stats", "--json"]).stdout)
    assert stats["by_status"]["skipped"] == 2 and stats["funnel"]["processed"] == 3

    # Named, the job passes the gate: its generate call happens, and the saving was about it.
    named = process_jobs(job_ids=[ids[NURSE]])
    [outcome] = named.jobs
    assert outcome.status in (Status.READY, Status.NEEDS_REVIEW) and named.min_fit == 0
    generate = [t for t in pipeline_env.store.usage_totals() if t.layer == "generate"]
    assert sum(t.calls for t in generate) == 2
    real_cost = outcome.cost_usd  # only generate ran (the other layers were cached)
    assert pipeline_env.store.usage_total(run_id=named.run_id).calls == 1
    assert 0.5 * real_cost <= spared[0] <= 2 * real_cost


def test_min_fit_option_moves_the_gate_and_zero_turns_it_off(pipeline_env: Env):
    ids = _queue(pipeline_env)
    runner = CliRunner()
    for option, skipped in (("30", {ids[NURSE]}), ("0", set()), ("91", set(ids.values()))):
        result = runner.invoke(app, ["run", "--dry-run", "--min-fit", option, "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert {j["id"] for j in data["jobs"] if j["status"] == "skipped"} == skipped, option
        assert data["min_fit"] == int(option)
    refused = runner.invoke(app, ["run", "--min-fit", "101"])
    assert refused.exit_code == 2 and "--min-fit" in refused.output
    pipeline_env.set(min_fit=0)
    assert Status.SKIPPED not in {j.status for j in process_jobs(dry_run=True).jobs}
