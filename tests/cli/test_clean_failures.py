"""Failures reach the console as one line each, never a traceback; Prefect keeps the traceback.

`applyflow run` runs as a real process (Prefect's console handler writes to the process's own
stderr) on the session's Prefect harness, against a loopback provider that answers 500.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.logging.handlers import PrefectConsoleHandler

from applyflow.cli.console_logs import OneLineFormatter, drop_failed_state, quiet_console
from applyflow.store.sqlite import SQLiteStore
from tests.loopback import Handler, free_port, serve
from tests.samples import ROOT, add_sample_jobs

APPLYFLOW = str(Path(sys.executable).parent / "applyflow")


class _Down(Handler):
    """A provider that is down: every chat completion is a 500."""

    def do_POST(self) -> None:
        self.body()
        self.reply(500, {"error": {"message": "upstream unavailable", "type": "server_error"}})


@pytest.fixture
def provider_down() -> Iterator[str]:
    with serve(_Down) as url:
        yield f"{url}/v1"


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLYFLOW_")}
    env |= {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the session's harness
        "APPLYFLOW_STORE_URL": f"sqlite:///{tmp_path / 'applyflow.db'}",
        "APPLYFLOW_OUTPUT_DIR": str(tmp_path / "out"),
        "APPLYFLOW_PROFILE": str(ROOT / "samples" / "profile.md"),
        **values,
    }
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [APPLYFLOW, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def _flow_logs(flow_run_id: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[uuid.UUID(flow_run_id)]))
        )
    return [log.message for log in found]


def test_a_provider_outage_is_one_line_per_failed_layer_and_exit_1(
    prefect_harness: None, tmp_path: Path, provider_down: str
):
    store = SQLiteStore(f"sqlite:///{tmp_path / 'applyflow.db'}")
    try:
        [job_id] = add_sample_jobs(store, 1)
        job = store.get_job(job_id)
    finally:
        store.close()
    env = _env(
        tmp_path,
        APPLYFLOW_MODEL="openai:gpt-4o-mini",
        APPLYFLOW_BASE_URL=provider_down,
        APPLYFLOW_API_KEY="sk-test-outage",
        APPLYFLOW_MODEL_MAX_RETRIES="0",
        APPLYFLOW_BREAKER_FAIL_MAX="10",  # the layer's own retries run out first
    )
    done = _run(["run", "--json"], env)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    failures = [line for line in done.stderr.splitlines() if "ERROR" in line]
    # One line: the layer task (named after layer and job) and the provider's error.
    assert len(failures) == 1, done.stderr
    name = f"extract · {job.title} @ {job.company}"
    assert f"Task run {name!r}" in failures[0] and "Error code: 500" in failures[0]
    summary = json.loads(done.stdout)
    [outcome] = summary["jobs"]
    assert outcome["status"] == "failed" and outcome["error"].startswith("extract layer failed")
    # The traceback is not lost: Prefect's API (the UI) has it.
    assert any("Traceback" in message for message in _flow_logs(summary["flow_run_id"]))


def test_a_failed_flow_is_one_error_line(prefect_harness: None, tmp_path: Path):
    # Nothing listens there: opening the store fails inside the flow, which Prefect records.
    url = f"mongodb://127.0.0.1:{free_port()}/applyflow?serverSelectionTimeoutMS=300"
    done = _run(["run"], _env(tmp_path, APPLYFLOW_STORE_URL=url))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "127.0.0.1" in errors[0], done.stderr


def _console(debug_formatter: bool) -> tuple[logging.Logger, io.StringIO, list[str]]:
    """A logger with a Prefect console handler (one-line or not) and an API-like handler."""
    stream = io.StringIO()
    console = PrefectConsoleHandler(stream=stream)
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    if not debug_formatter:
        console.setFormatter(OneLineFormatter(console.formatter))
        console.addFilter(drop_failed_state)
    api: list[str] = []

    class _Api(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            api.append(logging.Formatter().format(record))

    logger = logging.getLogger(f"test.console.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.addHandler(_Api())
    logger.addHandler(console)
    return logger, stream, api


@pytest.mark.parametrize("one_line", [True, False])
def test_the_console_formatter_keeps_one_line_and_leaves_the_api_its_traceback(one_line: bool):
    logger, stream, api = _console(debug_formatter=not one_line)
    try:
        raise RuntimeError("provider down")
    except RuntimeError:
        logger.exception("Task run failed with exception: %r", "boom")
    logger.error("Finished in state Failed('boom')")
    shown = stream.getvalue()
    assert "Traceback" in api[0] and "provider down" in api[0]  # the API handler's copy
    if one_line:
        assert shown.strip().splitlines() == [
            "ERROR Task run failed with exception: 'boom' (traceback: Prefect UI, or "
            "APPLYFLOW_DEBUG=1)"
        ]
    else:  # Prefect's own console (APPLYFLOW_DEBUG=1 leaves it): the traceback and the state
        assert "Traceback" in shown and "Finished in state" in shown


def test_quiet_console_wraps_prefect_console_handlers_unless_debugging(
    monkeypatch: pytest.MonkeyPatch,
):
    logger = logging.getLogger(f"test.quiet.{uuid.uuid4().hex}")
    handler = PrefectConsoleHandler(stream=io.StringIO())
    logger.addHandler(handler)
    monkeypatch.setenv("APPLYFLOW_DEBUG", "1")
    quiet_console()
    assert not isinstance(handler.formatter, OneLineFormatter) and handler.filters == []
    monkeypatch.delenv("APPLYFLOW_DEBUG")
    quiet_console()
    quiet_console()  # once is enough: not wrapped twice
    assert isinstance(handler.formatter, OneLineFormatter)
    assert not isinstance(handler.formatter.inner, OneLineFormatter)
    assert handler.filters == [drop_failed_state]
