"""Claims verification in a real run: a provider whose CV invents an employer and a metric
gets one repair call (billed to generate) naming them; the job ends needs_review with the
claims stored, listed in the dossier, shown by `jobs` and `status`; `mark ID ready` approves.
A provider whose repair removes them ends ready."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.outputs import ChatResult
from typer.testing import CliRunner

from applyflow.application import FILES
from applyflow.cli import app
from applyflow.models import Status
from applyflow.runtime import Runtime, use_runtime
from flows.pipeline import process_jobs
from tests.flows.conftest import Env
from tests.scripted import ScriptedOffline

INVENTED = "### Staff Engineer — Globex Corporation (2014–2016)\n- Cut cloud costs by 35%.\n\n"
REPAIRS: list[str] = []  # the repair messages the provider was sent


class _Inventing(ScriptedOffline):
    """Adds a role at an employer the profile never names, with a metric it never states."""

    keeps_inventing: ClassVar[bool] = True

    def after(self, layer: str | None, messages: list[BaseMessage], result: ChatResult) -> None:
        if layer != "generate":
            return
        repair = len(messages) > 2  # system, input, then the bad reply and the repair message
        if repair:
            REPAIRS.append(messages[-1].text if isinstance(messages[-1], HumanMessage) else "")
        if repair and not self.keeps_inventing:
            return  # the offline answer: only the profile's facts
        message = result.generations[0].message
        reply = json.loads(message.content)
        reply["cv_markdown"] = reply["cv_markdown"].replace(
            "## Education", INVENTED + "## Education"
        )
        message.content = json.dumps(reply)


class _Fixing(_Inventing):
    keeps_inventing: ClassVar[bool] = False


def _priced(env: Env) -> None:
    # The offline model billed like a paid one, so the repair call shows in the spend.
    env.set(prices=json.dumps({"offline": {"input": 1.0, "output": 2.0}}))


def _run(env: Env, model: type[ScriptedOffline]) -> tuple[str, object]:
    REPAIRS.clear()
    [job_id] = env.add_jobs(1)
    factory = Runtime(model_factory=lambda spec, max_tokens: model(max_tokens=max_tokens))
    with use_runtime(factory):
        summary = process_jobs(job_ids=[job_id])
    return job_id, summary


def _generate_spend(env: Env) -> tuple[int, float]:
    [group] = [g for g in env.store.spend_by("layer") if g.key == "generate"]
    return group.calls, group.cost_usd


def test_unsupported_claims_get_one_repair_call_then_needs_review(pipeline_env: Env):
    _priced(pipeline_env)
    job_id, summary = _run(pipeline_env, _Inventing)
    [outcome] = summary.jobs
    assert outcome.status == Status.NEEDS_REVIEW
    claims = {(c.kind, c.text) for c in outcome.unsupported_claims}
    assert {("employer", "Globex Corporation"), ("number", "35%")} <= claims
    # One repair call, billed to generate, naming each unsupported claim.
    calls, cost = _generate_spend(pipeline_env)
    assert calls == 2 and cost > 0
    [repair] = REPAIRS
    assert "employer 'Globex Corporation' (cv)" in repair and "number '35%' (cv)" in repair
    job = pipeline_env.store.get_job(job_id)
    assert (
        job.status == Status.NEEDS_REVIEW and job.unsupported_claims == outcome.unsupported_claims
    )
    # The documents are still written, and the dossier lists every claim.
    folder = Path(job.outputs["publish"].output["folder"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    dossier = (folder / "dossier.md").read_text()
    for claim in job.unsupported_claims:
        assert f"- {claim}" in dossier
    assert f"`applyflow mark {job_id} ready`" in dossier

    runner = CliRunner()
    listed = runner.invoke(app, ["jobs", "--json"])
    [row] = json.loads(listed.stdout)
    assert row["status"] == "needs_review"
    assert {(c["kind"], c["text"]) for c in row["unsupported_claims"]} == claims
    assert row["coverage"]["keywords"] and row["files"] == job.files
    table = runner.invoke(app, ["jobs"])
    assert "needs_review" in table.output and "Globex Corporation" in table.output
    status = runner.invoke(app, ["status", "--json"])
    assert (
        json.loads(status.stdout)["jobs"][job_id]["unsupported_claims"] == row["unsupported_claims"]
    )
    shown = runner.invoke(app, ["status"])
    assert f"{job_id} needs review" in shown.output and "Globex Corporation" in shown.output

    approved = runner.invoke(app, ["mark", job_id, "ready"])
    assert approved.exit_code == 0, approved.output
    assert pipeline_env.store.get_job(job_id).status == Status.READY


def test_a_repair_that_removes_the_claims_ends_ready(pipeline_env: Env):
    _priced(pipeline_env)
    job_id, summary = _run(pipeline_env, _Fixing)
    [outcome] = summary.jobs
    assert outcome.status == Status.READY and outcome.unsupported_claims == []
    assert _generate_spend(pipeline_env)[0] == 2 and len(REPAIRS) == 1
    job = pipeline_env.store.get_job(job_id)
    assert job.verification is not None and job.verification.unsupported == []
    assert "Globex" not in job.outputs["generate"].output["cv_markdown"]
    dossier = (Path(job.outputs["publish"].output["folder"]) / "dossier.md").read_text()
    assert "appear in the profile." in dossier
