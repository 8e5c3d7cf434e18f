"""Ingest across sources on loopback boards: one job per posting on a file, Greenhouse and
Ashby; a changed posting back to the queue, its stale layers run again; applications kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.models import ProgressStatus, Status, utcnow
from flows.ingest import ingest
from flows.pipeline import process_jobs
from tests.flows.conftest import SCRIPT, Env
from tests.loopback import Handler, serve

DATA = Path(__file__).resolve().parents[1] / "data" / "boards"
ASHBY_PATH = "/posting-api/job-board/nimbusworks?includeCompensation=true"
GREENHOUSE_PATH = "/v1/boards/nimbus/jobs?content=true"


def _greenhouse_job(job_id: int, title: str, description: str) -> dict[str, Any]:
    return {
        "id": job_id,
        "title": title,
        "company_name": "Nimbus Works GmbH",
        "absolute_url": f"https://boards.greenhouse.io/nimbus/jobs/{job_id}",
        "location": {"name": "Berlin, Germany"},
        "content": f"&lt;p&gt;{description}&lt;/p&gt;",
    }


class _Served:
    """What the loopback boards answer; a test edits it between ingests."""

    def __init__(self) -> None:
        self.ashby = json.loads((DATA / "ashby_board.json").read_text())
        self.greenhouse = {
            "jobs": [
                # Ashby's "Product Designer" in Berlin (Hybrid), as Greenhouse words it.
                _greenhouse_job(71, "Product Designer (m/w/d)", "Design the dispatcher console."),
                _greenhouse_job(72, "Support Engineer", "Answer the operators."),
            ]
        }


@pytest.fixture
def served() -> Iterator[tuple[_Served, str]]:
    state = _Served()

    class Boards(Handler):
        def do_GET(self) -> None:  # noqa: N802
            routes = {ASHBY_PATH: state.ashby, GREENHOUSE_PATH: state.greenhouse}
            if self.path in routes:
                self.reply(200, routes[self.path])
            else:
                self.reply(404, b"Not Found")

    with serve(Boards) as base:
        yield state, base


def test_the_same_job_on_a_file_greenhouse_and_ashby_is_one_job_with_three_sources(
    pipeline_env: Env, served: tuple[_Served, str], tmp_path: Path
):
    _, base = served
    listed = tmp_path / "saved.json"
    listed.write_text(json.dumps([{
        "title": "Product designer", "company": "Nimbus Works", "location": "Berlin",
        "description": "Shape the dispatcher console for 40 transit agencies.",
    }]))  # fmt: skip
    sources = [str(listed), "greenhouse:nimbus", "ashby:nimbusworks"]
    report = ingest(sources=sources, base_url=base)
    # The file's posting is a job; Greenhouse's and Ashby's copies of it join that job.
    assert (report.inserted, report.linked, report.rejected) == (1 + 1 + 2, 2, 0)
    assert len(pipeline_env.store.list_jobs()) == 4

    result = CliRunner().invoke(app, ["jobs", "--json"])
    assert result.exit_code == 0, result.output
    [designer] = [row for row in json.loads(result.stdout) if len(row["sources"]) > 1]
    assert designer["title"] == "Product designer" and designer["status"] == "new"
    assert [(s["source"], s["url"]) for s in designer["sources"]] == [
        ("file:saved.json", None),
        ("greenhouse:nimbus", "https://boards.greenhouse.io/nimbus/jobs/71"),
        ("ashby:nimbusworks",
         "https://jobs.ashbyhq.com/nimbusworks/9d0e1f2a-3b4c-4d5e-8f60-718293a4b5c6"),
    ]  # fmt: skip
    assert designer["sources"][2]["apply_url"].endswith("/application")
    assert [h["note"] for h in designer["history"]] == ["found on file:saved.json"]

    again = ingest(sources=sources, base_url=base)
    assert (again.inserted, again.linked, again.updated, again.unchanged) == (0, 0, 0, 6)


def test_a_changed_posting_goes_back_to_the_queue_and_its_stale_layers_run_again(
    pipeline_env: Env, served: tuple[_Served, str]
):
    state, base = served
    pipeline_env.set(min_fit=0)  # every job goes through every layer (no fit gate)
    ingest(sources=["greenhouse:nimbus"], base_url=base)
    first = process_jobs(limit=10)
    assert {j.status for j in first.jobs} == {Status.READY}
    designer, support = (j.id for j in sorted(first.jobs, key=lambda j: j.title))
    pipeline_env.store.set_status(support, Status.APPLIED, utcnow())
    stale = {k: v.input_hash for k, v in pipeline_env.store.get_job(designer).outputs.items()}

    state.greenhouse["jobs"] = [
        _greenhouse_job(71, "Product Designer (m/w/d)", "Design the console, now in Figma."),
        _greenhouse_job(72, "Support Engineer", "Answer the operators, in Dutch too."),
    ]
    report = ingest(sources=["greenhouse:nimbus"], base_url=base)
    assert (report.updated, report.requeued, report.unchanged) == (2, 1, 0)
    requeued, kept = (pipeline_env.store.get_job(i) for i in (designer, support))
    assert requeued.status == Status.NEW and "now in Figma" in requeued.description
    assert requeued.history[-1].note == "posting changed on greenhouse:nimbus: back to the queue"
    assert kept.status == Status.APPLIED  # an application is never requeued...
    assert kept.history[-1].note == "posting changed on greenhouse:nimbus after the application"

    SCRIPT.calls.clear()
    second = process_jobs(limit=10)
    assert [(j.id, j.status) for j in second.jobs] == [(designer, Status.READY)]  # ...nor rerun
    progress = {r.layer: r.status for r in pipeline_env.store.list_progress(second.run_id)}
    # Every layer read the old posting: its input hash changed, so it ran again.
    assert set(progress.values()) == {ProgressStatus.COMPLETED}
    assert {layer for (_, layer) in SCRIPT.calls} == {"extract", "research", "score", "generate"}
    fresh = {k: v.input_hash for k, v in pipeline_env.store.get_job(designer).outputs.items()}
    assert set(fresh) == set(stale) and all(fresh[k] != stale[k] for k in stale)
