"""Ingest flow: Greenhouse and Lever on loopback, bad records reported, re-ingest adds nothing."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.errors import StoreError
from applyflow.models import Status
from applyflow.runtime import Runtime, use_runtime
from applyflow.store import Store, open_store
from flows.ingest import NO_SOURCES, ingest
from tests.flows.conftest import Env
from tests.loopback import Handler, serve

ROOT = Path(__file__).resolve().parents[2]

GREENHOUSE = {
    "jobs": [
        {
            "id": 4012,
            "title": "Platform Engineer",
            "company_name": "Acme Rail",
            "absolute_url": "https://boards.greenhouse.io/acme/jobs/4012",
            "location": {"name": "Lisbon"},
            "updated_at": "2026-03-01T10:00:00-05:00",
            "content": html.escape(
                "<p>Acme Rail runs trains.</p><ul><li>Kubernetes</li><li>Go</li></ul>"
                "<script>track()</script>"
            ),
        },
        {"id": 4013, "title": "", "content": "x", "location": {"name": "Porto"}},
    ],
    "meta": {"total": 2},
}
LEVER = [
    {
        "id": "5ac2-1",
        "text": "Data Analyst",
        "categories": {"location": "Remote", "team": "Data"},
        "descriptionPlain": "We analyse freight.",
        "lists": [{"text": "Requirements", "content": "<li>SQL</li><li>Python</li>"}],
        "hostedUrl": "https://jobs.lever.co/acme/5ac2-1",
        "applyUrl": "https://jobs.lever.co/acme/5ac2-1/apply",
        "createdAt": 1_767_225_600_000,
    },
    "not-a-posting",
]


class _Boards(Handler):
    lever_failures = 1  # the first Lever request gets a transient 503

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/v1/boards/acme/jobs?content=true":
            self.reply(200, GREENHOUSE)
        elif self.path == "/v0/postings/acme?mode=json":
            if _Boards.lever_failures:
                _Boards.lever_failures -= 1
                self.reply(503, {"error": "busy"}, {"Retry-After": "0"})
            else:
                self.reply(200, LEVER)
        else:
            self.reply(404, {"error": "no such board"})


@pytest.fixture
def boards() -> Iterator[str]:
    _Boards.lever_failures = 1
    with serve(_Boards) as base:
        yield base


def test_boards_and_files_land_bad_records_are_reported_and_reingest_adds_nothing(
    pipeline_env: Env, boards: str, tmp_path: Path
):
    rows = tmp_path / "mixed.csv"
    rows.write_text("title,company,description\nAnalyst,Acme,Crunch numbers\n,Acme,No title here\n")
    sources = ["greenhouse:acme", "lever:acme", str(rows), "greenhouse:nobody"]
    report = ingest(sources=sources, base_url=boards)
    assert (report.inserted, report.updated, report.unchanged) == (3, 0, 0)
    assert {(r.source, r.where) for r in report.rejections} == {
        ("greenhouse:acme", "jobs[1]"),
        ("lever:acme", "postings[1]"),
        ("file:mixed.csv", "row 3"),
        ("greenhouse:nobody", None),
    }
    reasons = {r.source: r.reason for r in report.rejections}
    assert reasons["greenhouse:acme"] == "missing title"
    assert "404" in reasons["greenhouse:nobody"]
    assert report.rejected == 4

    jobs = {j.title: j for j in pipeline_env.store.list_jobs()}
    platform = jobs["Platform Engineer"]
    assert platform.company == "Acme Rail" and platform.location == "Lisbon"
    assert platform.description == "Acme Rail runs trains.\n\n- Kubernetes\n- Go"
    assert platform.posted_at.hour == 15  # -05:00 stored as UTC
    analyst = jobs["Data Analyst"]
    assert analyst.company == "acme" and analyst.location == "Remote"
    assert analyst.apply_url == "https://jobs.lever.co/acme/5ac2-1/apply"
    assert "Requirements:\n- SQL\n- Python" in analyst.description
    assert analyst.posted_at.year == 2026
    assert all(j.status == Status.NEW for j in jobs.values())

    again = ingest(sources=sources, base_url=boards)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert len(pipeline_env.store.list_jobs()) == 3


def test_a_failed_ingest_raises_a_flow_failed_alert(pipeline_env: Env):
    opened: list[str] = []

    def store_factory(url: str) -> Store:
        opened.append(url)
        if len(opened) == 1:  # the flow's own store: the server is down
            raise StoreError(f"store {url} is unreachable")
        return open_store(url)  # the failure hook's: it records the alert

    with use_runtime(Runtime(store_factory=store_factory)):
        state = ingest(sources=[str(ROOT / "samples" / "postings.json")], return_state=True)
    assert state.is_failed(), state
    [alert] = pipeline_env.store.list_alerts()
    assert (alert.kind, alert.level) == ("flow_failed", "error")
    assert alert.key == f"flow:ingest:{state.state_details.flow_run_id}"
    assert "ingest run" in alert.message and "is unreachable" in alert.message


def test_ingest_with_no_sources_says_so_and_completes(
    pipeline_env: Env, caplog: pytest.LogCaptureFixture
):
    # The hourly deployment on a machine where APPLYFLOW_SOURCES is not set (yet).
    with caplog.at_level(logging.WARNING):
        state = ingest(sources=None, return_state=True)
    assert state.is_completed(), state
    report = state.result()
    assert (report.inserted, report.rejected, report.sources) == (0, 0, [])
    assert NO_SOURCES in caplog.text
    assert pipeline_env.store.list_alerts() == []  # nothing failed, nothing to alert


def test_cli_ingest_with_no_sources_is_a_one_line_error(pipeline_env: Env):
    result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 2  # an argument is missing: the preflight says which to set
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: no sources: pass SOURCE... or set APPLYFLOW_SOURCES")
