"""`applyflow config | jobs | mark | stats | health` on the embedded default store."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.models import JobPosting, Status
from applyflow.settings import get_settings, load_settings
from applyflow.store import open_store


def _seed(n: int = 3) -> list[str]:
    store = open_store(load_settings())
    try:
        now = datetime.now(UTC)
        ids = []
        for i in range(n):
            posting = JobPosting(
                source="test",
                external_id=f"ext-{i}",
                title=f"Engineer {i}",
                company=f"Company {i}",
                location="Remote",
                description="Build things.",
            )
            store.upsert_job(posting, now)
            ids.append(posting.id)
        return ids
    finally:
        store.close()


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("config", "jobs", "mark", "stats", "health"):
        assert command in result.output


def test_config_json_masks_secrets(runner: CliRunner, cli_env, monkeypatch) -> None:
    monkeypatch.setenv("APPLYFLOW_API_KEY", "sk-CANARY-cli-0001")
    monkeypatch.setenv("APPLYFLOW_DASHBOARD_PASSWORD", "CANARY-dash-pass")
    get_settings.cache_clear()
    for args in (["config", "--json"], ["config"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "sk-CANARY-cli-0001" not in result.output
        assert "CANARY-dash-pass" not in result.output
    data = json.loads(runner.invoke(app, ["config", "--json"]).output)
    assert data["api_key"] == "**********"
    assert data["model"] == "offline"


def test_invalid_settings_exit_2_naming_each(runner: CliRunner, cli_env, monkeypatch) -> None:
    monkeypatch.setenv("APPLYFLOW_TIMEZONE", "Nowhere/Land")
    monkeypatch.setenv("APPLYFLOW_BUDGET_WARN_AT", "7")
    get_settings.cache_clear()
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 2
    assert "APPLYFLOW_TIMEZONE" in result.output
    assert "APPLYFLOW_BUDGET_WARN_AT" in result.output
    assert "2 invalid settings" in result.output


def test_jobs_and_mark_applied_update_stats(runner: CliRunner, cli_env) -> None:
    ids = _seed(3)
    listed = json.loads(runner.invoke(app, ["jobs", "--json"]).output)
    assert sorted(j["id"] for j in listed) == sorted(ids)
    assert {j["status"] for j in listed} == {"new"}

    result = runner.invoke(app, ["mark", ids[0], "applied"])
    assert result.exit_code == 0, result.output

    stats = json.loads(runner.invoke(app, ["stats", "--json"]).output)
    assert (stats["today"], stats["week"], stats["month"], stats["total"]) == (1, 1, 1, 1)
    assert stats["by_status"]["applied"] == 1
    assert stats["by_status"]["new"] == 2
    applied = json.loads(runner.invoke(app, ["jobs", "--status", "applied", "--json"]).output)
    assert [j["id"] for j in applied] == [ids[0]]
    assert applied[0]["applied_at"] is not None


def test_mark_unknown_status_lists_choices(runner: CliRunner, cli_env) -> None:
    ids = _seed(1)
    result = runner.invoke(app, ["mark", ids[0], "hired"])
    assert result.exit_code != 0
    for status in Status:
        assert status.value in result.output


def test_mark_unknown_job_is_a_clear_error(runner: CliRunner, cli_env) -> None:
    _seed(1)
    result = runner.invoke(app, ["mark", "does-not-exist", "applied"])
    assert result.exit_code == 1
    assert "does-not-exist" in result.output
    assert "applyflow jobs" in result.output


def test_mark_invalid_transition_names_allowed(runner: CliRunner, cli_env) -> None:
    ids = _seed(1)
    assert runner.invoke(app, ["mark", ids[0], "applied"]).exit_code == 0
    result = runner.invoke(app, ["mark", ids[0], "processing"])
    assert result.exit_code == 1
    assert "cannot change status from 'applied' to 'processing'" in result.output
    assert "interview" in result.output


@pytest.mark.parametrize("args", [["stats", "--json"], ["jobs", "--json"]])
def test_empty_store_works_without_configuration(runner: CliRunner, cli_env, args) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    if args[0] == "stats":
        assert data["total"] == 0 and data["by_status"]["new"] == 0
    else:
        assert data == []


def test_health_reports_store_latency(runner: CliRunner, cli_env) -> None:
    result = runner.invoke(app, ["health", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["store"]["ok"] is True
    assert data["store"]["latency_ms"] >= 0
    assert [p["provider"] for p in data["providers"]] == ["offline"]
    assert data["providers"][0]["breaker"]["state"] == "closed"


def test_health_fails_when_store_unreachable(runner: CliRunner, cli_env, monkeypatch) -> None:
    monkeypatch.setenv("APPLYFLOW_STORE_URL", "sqlite:////proc/applyflow-no-such-dir/x.db")
    get_settings.cache_clear()
    result = runner.invoke(app, ["health", "--json"])
    assert result.exit_code == 1


def test_unexpected_errors_are_one_line_unless_debugging(
    runner: CliRunner, cli_env, monkeypatch
) -> None:
    from applyflow.store.sqlite import SQLiteStore

    def broken(self, *args, **kwargs):
        raise RuntimeError("Timed out while attempting to connect to ephemeral Prefect API server.")

    monkeypatch.setattr(SQLiteStore, "list_jobs", broken)
    result = runner.invoke(app, ["jobs"])
    assert result.exit_code == 1
    assert "RuntimeError: Timed out while attempting to connect" in result.output
    assert "APPLYFLOW_DEBUG=1" in result.output
    assert "Traceback" not in result.output

    monkeypatch.setenv("APPLYFLOW_DEBUG", "1")
    result = runner.invoke(app, ["jobs"])
    assert isinstance(result.exception, RuntimeError)


def test_health_reports_unavailable_guards_without_a_traceback(
    runner: CliRunner, cli_env, monkeypatch
) -> None:
    monkeypatch.setenv("APPLYFLOW_RATE_STORAGE_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()

    def unreachable(*args, **kwargs):
        raise ConnectionError("rate storage redis://127.0.0.1:1/0 refused the connection")

    monkeypatch.setattr("guards.health.provider_health", unreachable)
    result = runner.invoke(app, ["health"])
    assert result.exit_code == 1
    assert "guards" in result.output and "refused the connection" in result.output
    assert "Traceback" not in result.output
