"""Store outages: unreachable at start (clear CLI error, password masked), errors during a run."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.errors import StoreError
from applyflow.models import Status, utcnow
from applyflow.runtime import Runtime, use_runtime
from applyflow.settings import get_settings
from applyflow.store import Store, open_store
from flows.pipeline import process_jobs
from tests.reliability.conftest import ROOT, Pipeline

PASSWORD = "hunter2-canary"
UNREACHABLE = {
    "mongo": f"mongodb://admin:{PASSWORD}@127.0.0.1:1/applyflow?serverSelectionTimeoutMS=300",
    "sqlite": "sqlite:////proc/applyflow-cannot-be-here/applyflow.db",
}


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch, tmp_path, request) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APPLYFLOW_STORE_URL", UNREACHABLE[request.param])
    monkeypatch.setenv("APPLYFLOW_PROFILE", str(ROOT / "samples" / "profile.md"))
    get_settings.cache_clear()
    yield request.param
    get_settings.cache_clear()


@pytest.mark.parametrize("unreachable", sorted(UNREACHABLE), indirect=True)
@pytest.mark.parametrize("command", [["jobs"], ["stats"], ["budget"], ["health"]])
def test_unreachable_store_at_start_is_a_clear_error(unreachable: str, command: list[str]):
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    if unreachable == "mongo":
        assert "mongodb://admin:**********@127.0.0.1:1/applyflow" in text
    else:
        assert "/proc/applyflow-cannot-be-here/applyflow.db" in text
    assert "cannot open" in text and text.count("cannot open") == 1  # said once, not twice
    assert PASSWORD not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("unreachable", sorted(UNREACHABLE), indirect=True)
def test_health_json_reports_why_the_store_is_down(unreachable: str):
    result = CliRunner().invoke(app, ["health", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["store"]["ok"] is False
    assert report["store"]["error"].startswith("cannot open ")
    assert report["store"]["url"] in report["store"]["error"]
    assert PASSWORD not in result.output
    if unreachable == "mongo":
        assert "Connection refused" in report["store"]["error"]
        assert "Topology Description" not in report["store"]["error"]


@pytest.mark.parametrize("unreachable", ["mongo"], indirect=True)
def test_run_with_an_unreachable_store_fails_before_claiming(
    unreachable: str, prefect_harness: None, caplog: pytest.LogCaptureFixture
):
    result = CliRunner().invoke(app, ["run", "--limit", "1"])
    assert result.exit_code == 1, result.output
    assert "cannot open MongoDB store at mongodb://admin:**********@127.0.0.1:1" in " ".join(
        result.output.split()
    )
    assert PASSWORD not in result.output + caplog.text


class FlakyStore:
    """The real store, except ``save_layer_output`` fails when ``fail(job_id, layer)`` says so."""

    def __init__(self, inner: Store, fail: Callable[[str, str], bool]) -> None:
        self._inner, self._fail = inner, fail
        self.failures: Counter = Counter()
        self._lock = threading.Lock()

    def save_layer_output(self, job_id: str, layer: str, *args: Any, **kwargs: Any) -> None:
        if self._fail(job_id, layer):
            with self._lock:
                self.failures[(job_id, layer)] += 1
            raise StoreError(f"SQLite store {self._inner.url}: disk I/O error (injected)")
        self._inner.save_layer_output(job_id, layer, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_store_errors_during_a_run_are_retried_then_fail_the_job_visibly(pipeline: Pipeline):
    hiccup, broken, fine = pipeline.add_jobs(3)
    attempts: Counter = Counter()

    def fail(job_id: str, layer: str) -> bool:
        attempts[(job_id, layer)] += 1
        if job_id == hiccup and layer == "extract":
            return attempts[(job_id, layer)] <= 2  # two failures, then the store is back
        return job_id == broken and layer == "research"

    flaky: list[FlakyStore] = []

    def open_flaky(url: str) -> Store:
        flaky.append(FlakyStore(open_store(url), fail))
        return cast(Store, flaky[-1])

    with use_runtime(Runtime(store_factory=open_flaky)):
        summary = process_jobs(limit=10)

    assert {j.id: j.status for j in summary.jobs} == {
        hiccup: "ready",
        broken: "failed",
        fine: "ready",
    }
    [store] = flaky
    # The layer task retried (Prefect retries: 2) each time the store refused.
    assert store.failures == Counter({(hiccup, "extract"): 2, (broken, "research"): 3})
    job = pipeline.store.get_job(broken)
    assert job.status == Status.FAILED
    assert job.error == (
        f"research layer failed: SQLite store {pipeline.store.url}: disk I/O error (injected)"
    )
    assert "extract" in job.outputs and "research" not in job.outputs
    # Each retry called the model again; every billed reply is in the ledger exactly once.
    assert pipeline.store.usage_total().calls == len(pipeline.fake.billed())
    assert pipeline.store.open_reservations(utcnow()) == 0
