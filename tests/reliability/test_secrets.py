"""Canary secrets: the API key and webhook URL appear in no output, log, run record or alert."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.models import JobPosting, utcnow
from applyflow.settings import get_settings
from guards.alerts import alert
from tests.loopback import Handler
from tests.reliability.conftest import Pipeline

CANARY_KEY = "sk-canary-5f2a9c1e7b3d4a60e8"
CANARY_HOOK_TOKEN = "CANARY-HOOK-91e3c0ffee"


class _Hook:
    """A webhook receiver whose URL holds the canary token."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        hook = self

        class Hook(Handler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                hook.bodies.append(self.body().decode())
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{CANARY_HOOK_TOKEN}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[_Hook]:
    receiver = _Hook()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def _prefect_records(since: datetime) -> str:
    """Parameters, artifacts and logs of every flow run since ``since``, as one text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        FlowRunFilter,
        FlowRunFilterStartTime,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    where = FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=where)
        ids = [run.id for run in runs]
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(), flow_run_filter=where)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))
    assert len(runs) >= 3 and logs  # demo (ingest, process) and the failing run
    parts = [json.dumps(run.parameters, default=str) for run in runs]
    parts += [f"{a.key} {a.description} {json.dumps(a.data, default=str)}" for a in artifacts]
    parts += [log.message for log in logs]
    return "\n".join(parts)


def _store_text(pipeline: Pipeline) -> str:
    store = pipeline.store
    parts = [job.model_dump_json() for job in store.list_jobs(limit=1000)]
    for run in store.list_runs(100):
        parts.append(run.model_dump_json())
        parts += [row.model_dump_json() for row in store.list_progress(run.id)]
    parts += [alert.model_dump_json() for alert in store.list_alerts(100)]
    return "\n".join(parts)


def test_canary_secrets_never_leak(
    pipeline: Pipeline,
    hook: _Hook,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
):
    since = datetime.now(UTC)
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    pipeline.set(
        api_key=CANARY_KEY, alert_webhook_url=hook.url, breaker_fail_max=3, job_concurrency=1
    )
    runner = CliRunner()
    outputs: list[str] = []

    def cli(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output)
        outputs.append(result.output)
        return result.output

    cli("config")
    cli("config", "--json")
    cli("demo")
    for command in ("jobs", "stats", "health", "budget", "status"):
        cli(command)
        cli(command, "--json")
    # A provider that echoes the key back in its error: the first job's three attempts fail
    # with it (the job fails) and open the breaker (an alert); the second job is deferred.
    pipeline.fake.script("echo_key", "echo_key", "echo_key")
    for n in (1, 2):
        posting = JobPosting(
            source="test:secrets", title=f"Engineer {n}", company="Canary Co", description="Python."
        )
        pipeline.store.upsert_job(posting, utcnow())
    failing = json.loads(cli("run", "--limit", "2", "--json", code=1))  # a job failed
    assert [j["status"] for j in failing["jobs"]] == ["failed", "new"]
    assert "Incorrect API key provided" in failing["jobs"][0]["error"]
    assert "circuit breaker is open" in failing["jobs"][1]["error"]
    cli("status")
    cli("health")
    assert hook.bodies and any("circuit breaker opened" in body for body in hook.bodies)
    # The webhook goes down: its failure is logged without its URL.
    hook.server.shutdown()
    hook.server.server_close()
    alert(get_settings(), pipeline.store, "test", "canary-alert", "a canary alert")
    assert "alert webhook unreachable (ConnectError)" in caplog.text

    captured = capfd.readouterr()
    haystacks = {
        "CLI output": "\n".join(outputs),
        "captured stdout/stderr": captured.out + captured.err,
        "log records": caplog.text,
        "store (jobs, runs, progress, alerts)": _store_text(pipeline),
        "alert webhook bodies": "\n".join(hook.bodies),
        "Prefect parameters, artifacts, logs": _prefect_records(since),
    }
    assert "Incorrect API key provided" in haystacks["Prefect parameters, artifacts, logs"]
    leaks = [
        f"{canary} leaked into {where}: ...{_around(text, canary)}"
        for where, text in haystacks.items()
        for canary in (CANARY_KEY, CANARY_HOOK_TOKEN)
        if canary in text
    ]
    assert not leaks, "\n".join(leaks)


def _around(text: str, needle: str) -> str:
    at = text.index(needle)
    return text[max(0, at - 200) : at + 40]
