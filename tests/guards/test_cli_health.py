"""`applyflow budget` on the embedded default, and provider health for `applyflow health`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.errors import CircuitOpen
from applyflow.models import TOKEN_CLASSES
from applyflow.settings import get_settings, load_settings
from applyflow.store import open_store
from guards.call import CallContext, ModelGuard
from guards.health import provider_health
from tests.factories import make_usage
from tests.guards._fakes import FakeChat

PRICES = {"fakeai:small": {"input": 1.0, "output": 2.0}}


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APPLYFLOW_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("APPLYFLOW_PRICES", json.dumps(PRICES))
    monkeypatch.setenv("APPLYFLOW_BUDGET_TOTAL_USD", "0.0095")
    monkeypatch.setenv("APPLYFLOW_BUDGET_DAILY_USD", "1")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _spend(calls: int, job: str = "job-a") -> None:
    settings = load_settings()
    store = open_store(settings)
    try:
        fake = FakeChat(input_tokens=1000, output_tokens=1000)  # $0.003 a call
        guard = ModelGuard(settings, store, model_factory=lambda m, t: fake, prefect_slots=False)
        for _ in range(calls):
            guard.call([HumanMessage("x")], model="fakeai:small", max_tokens=1000,
                       ctx=CallContext("run-a", job, "generate"))  # fmt: skip
    finally:
        store.close()


def test_budget_json_shows_scopes_and_spend(cli_env: Path) -> None:
    _spend(3)
    result = CliRunner().invoke(app, ["budget", "--json", "--run", "run-a", "--job", "job-a"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    scopes = {s["kind"]: s for s in data["scopes"]}
    assert list(scopes) == ["total", "month", "day", "run", "job"]
    total = scopes["total"]
    assert total["cap"] == 0.0095 and total["spent"] == pytest.approx(0.009)
    assert total["remaining"] == pytest.approx(0.0005) and total["percent"] == pytest.approx(94.74)
    assert total["state"] == "critical"
    assert scopes["day"]["state"] == "ok" and scopes["month"]["state"] == "unlimited"
    assert scopes["job"]["spent"] == pytest.approx(0.009)
    assert [(g["key"], g["calls"]) for g in data["by_provider"]] == [("fakeai", 3)]
    assert [(g["key"], g["calls"]) for g in data["by_model"]] == [("fakeai:small", 3)]


def test_budget_table_names_each_state(cli_env: Path) -> None:
    _spend(3)
    result = CliRunner().invoke(app, ["budget"])
    assert result.exit_code == 0, result.output
    for text in (
        "total",
        "$0.0095",
        "critical",
        "$1.00",
        "unlimited",
        "fakeai:small",
        "Spend by provider",
    ):
        assert text in result.stdout


def test_provider_health_reports_breaker_rate_and_budget(tmp_path: Path) -> None:
    settings = load_settings(
        store_url=f"sqlite:///{tmp_path / 's.db'}",
        prices=PRICES,
        rate_limits={"fakeai": "10/minute"},
        breaker_fail_max=1,
    )
    store = open_store(settings)
    try:
        fake = FakeChat(error=ConnectionError("down"))
        guard = ModelGuard(settings, store, model_factory=lambda m, t: fake, prefect_slots=False)
        with pytest.raises(ConnectionError):
            guard.call([HumanMessage("x")], model="fakeai:small", max_tokens=10, ctx=CallContext())
        with pytest.raises(CircuitOpen):
            guard.call([HumanMessage("x")], model="fakeai:small", max_tokens=10, ctx=CallContext())
        report = {p.provider: p for p in provider_health(settings, store, ["fakeai", "offline"])}
    finally:
        store.close()
    fakeai = report["fakeai"]
    assert fakeai.breaker.state == "open" and 0 < fakeai.breaker.retry_in_s <= 30
    # Both calls were admitted by the rate guard; the second failed fast at the breaker first.
    assert [w.model_dump() for w in fakeai.rate] == [
        {"kind": "requests", "limit": "10 requests/minute", "remaining": 9,
         "reset_in_s": pytest.approx(60, abs=5)}
    ]  # fmt: skip
    assert fakeai.budget.state == "ok"
    assert report["offline"].breaker.state == "closed" and report["offline"].rate == []


def test_budget_shows_the_token_classes_billed_at_their_own_price(cli_env: Path) -> None:
    store = open_store(load_settings())
    try:
        store.record_usage(
            make_usage(
                provider="openai",
                model="openai:gpt-4o-mini",
                input_tokens=13000,
                cache_read_tokens=3840,
                output_tokens=1000,
                output_reasoning_tokens=448,
            )
        )
        store.record_usage(
            make_usage(
                provider="anthropic",
                model="anthropic:claude-sonnet-4-5",
                input_tokens=4700,
                cache_read_tokens=3000,
                cache_write_tokens=1200,
                cache_write_1h_tokens=400,
            )
        )
    finally:
        store.close()  # fmt: skip
    result = CliRunner().invoke(app, ["budget", "--json"])
    assert result.exit_code == 0, result.output
    by_model = {g["key"]: g for g in json.loads(result.stdout)["by_model"]}
    mini, sonnet = by_model["openai:gpt-4o-mini"], by_model["anthropic:claude-sonnet-4-5"]
    assert {k: mini[k] for k in TOKEN_CLASSES} == {
        "cache_read_tokens": 3840, "cache_write_tokens": 0, "cache_write_1h_tokens": 0,
        "input_audio_tokens": 0, "output_reasoning_tokens": 448, "output_audio_tokens": 0,
    }  # fmt: skip
    assert (sonnet["cache_write_tokens"], sonnet["cache_write_1h_tokens"]) == (1200, 400)
    by_provider = {g["key"]: g for g in json.loads(result.stdout)["by_provider"]}
    assert by_provider["anthropic"]["cache_read_tokens"] == 3000
    table = CliRunner().invoke(app, ["budget"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    for text in ("cache read", "cache write", "reasoning", "3,840", "1,200", "448"):
        assert text in table.stdout
    assert "audio" not in table.stdout  # no call had audio: no column for it


def test_budget_table_has_no_class_columns_without_such_tokens(cli_env: Path) -> None:
    _spend(1)
    result = CliRunner().invoke(app, ["budget"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "cache read" not in result.stdout and "reasoning" not in result.stdout
