"""Preflight of `run`, `ingest`, `demo` and `serve`: one line per problem, exit 2, before Prefect
loads (``load_flows`` and Prefect's serve are replaced by tripwires)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import applyflow.cli.demo
import applyflow.cli.pipeline
from applyflow.cli import app
from applyflow.preflight import key_problems, models_called
from applyflow.settings import get_settings, load_settings
from tests.cli.conftest import SAMPLE_PROFILE

KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")


@pytest.fixture
def env(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A sample profile, no provider keys, and flows that must never load."""

    def tripwire(*args, **kwargs):
        raise AssertionError("the flows were loaded although the preflight failed")

    monkeypatch.setattr(applyflow.cli.pipeline, "load_flows", tripwire)
    monkeypatch.setattr(applyflow.cli.demo, "load_flows", tripwire)
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    set_env(monkeypatch, APPLYFLOW_PROFILE=str(SAMPLE_PROFILE))
    return cli_env


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def errors(output: str) -> list[str]:
    lines = output.strip().splitlines()
    assert all(line.startswith(("error: ", "warning: ")) for line in lines), output
    return [line for line in lines if line.startswith("error: ")]


def test_a_missing_profile_is_one_line_naming_it(env: Path, monkeypatch: pytest.MonkeyPatch):
    set_env(monkeypatch, APPLYFLOW_PROFILE=str(env / "nowhere.md"))
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 2
    assert errors(result.output) == [
        f"error: {env / 'nowhere.md'}: cannot read the candidate profile: No such file or "
        "directory (set APPLYFLOW_PROFILE or --profile)"
    ]


def test_an_empty_profile_given_with_profile_is_refused(env: Path):
    empty = env / "empty.md"
    empty.write_text("  \n")
    result = CliRunner().invoke(app, ["run", "--profile", str(empty)])
    assert result.exit_code == 2
    assert errors(result.output) == [
        f"error: {empty}: the candidate profile is empty (set APPLYFLOW_PROFILE or --profile)"
    ]


def test_an_unpriced_model_is_one_line(env: Path, monkeypatch: pytest.MonkeyPatch):
    set_env(monkeypatch, OPENAI_API_KEY="sk-test")
    result = CliRunner().invoke(app, ["run", "--model", "openai:no-such-model-a"])
    assert result.exit_code == 2
    [line] = errors(result.output)
    assert line.startswith("error: no known price for model 'openai:no-such-model-a'")
    assert "APPLYFLOW_PRICES" in line


def test_a_paid_provider_without_a_key_is_one_line(env: Path, monkeypatch: pytest.MonkeyPatch):
    set_env(monkeypatch, APPLYFLOW_MODEL="openai:gpt-4o-mini")
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 2
    assert errors(result.output) == [
        "error: no API key for openai: set OPENAI_API_KEY (or APPLYFLOW_API_KEY)"
    ]
    # A dry run calls only the offline model, never the fallback: no key needed, so it gets
    # past the preflight.
    set_env(monkeypatch, APPLYFLOW_FALLBACK_MODEL="anthropic:claude-3-5-haiku-latest")
    assert "anthropic" in CliRunner().invoke(app, ["run"]).output
    dry = CliRunner().invoke(app, ["run", "--dry-run"])
    assert "the flows were loaded" in dry.output


def test_every_problem_is_reported_at_once_and_json_says_so(
    env: Path, monkeypatch: pytest.MonkeyPatch
):
    set_env(
        monkeypatch,
        APPLYFLOW_PROFILE=str(env / "nowhere.md"),
        APPLYFLOW_MODEL="anthropic:no-such-model",
    )
    result = CliRunner().invoke(app, ["run", "--json"])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False and len(data["errors"]) == 3  # profile, price, key
    assert [e.split(":")[0] for e in data["errors"]] == [
        str(env / "nowhere.md"),
        "no known price for 'anthropic",
        "no API key for anthropic",
    ]
    assert len(errors(result.stderr)) == 3


def test_ingest_without_sources_says_what_to_set(env: Path):
    result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 2
    [line] = errors(result.output)
    assert line.startswith("error: no sources: pass SOURCE... or set APPLYFLOW_SOURCES")
    assert "APPLYFLOW_SOURCES=samples/postings.json" in line


def test_a_profile_with_other_headings_is_refused_naming_them(env: Path):
    renamed = env / "profile.md"
    text = SAMPLE_PROFILE.read_text().replace("## Experience", "## Work History")
    renamed.write_text(text.replace("## Languages", "## Open Source"))
    result = CliRunner().invoke(app, ["run", "--profile", str(renamed)])
    assert result.exit_code == 2
    assert errors(result.output) == [
        f"error: profile {renamed}: heading '## Work History' is not read as Experience: "
        "rename it '## Experience'"
    ]
    assert "'## Open Source'" in result.output  # unknown: a warning, copied as written


def test_demo_and_serve_check_first(env: Path, monkeypatch: pytest.MonkeyPatch):
    set_env(monkeypatch, APPLYFLOW_PROFILE=str(env / "nowhere.md"))
    demo = CliRunner().invoke(app, ["demo"])
    assert demo.exit_code == 2 and len(errors(demo.output)) == 1
    set_env(monkeypatch, APPLYFLOW_PROFILE=str(SAMPLE_PROFILE), APPLYFLOW_MODEL="groq:llama-x")
    served = CliRunner().invoke(app, ["serve"])  # would block serving if it got that far
    assert served.exit_code == 2
    assert [e.split(":")[1].strip() for e in errors(served.output)] == [
        "no known price for 'groq",
        "no API key for groq",
    ]


def test_key_problems_per_provider():
    cfg = load_settings(model="openai:gpt-4o", layer_models={"generate": "anthropic:claude-x"})
    calls = models_called(cfg, None)
    assert key_problems(cfg, calls, env={}) == [
        "no API key for openai: set OPENAI_API_KEY (or APPLYFLOW_API_KEY)",
        "no API key for anthropic: set ANTHROPIC_API_KEY (or APPLYFLOW_API_KEY)",
    ]
    assert key_problems(cfg, calls, env={"ANTHROPIC_API_KEY": "k"}) == [
        "no API key for openai: set OPENAI_API_KEY (or APPLYFLOW_API_KEY)"
    ]
    assert key_problems(load_settings(api_key="k", model="openai:gpt-4o"), calls, env={}) == []
    # Local models and providers with their own credentials (AWS, Google Cloud) are not checked.
    local = load_settings(model="ollama:llama3", fallback_model="bedrock_converse:x")
    assert models_called(local, None) == ["ollama:llama3", "bedrock_converse:x"]
    assert key_problems(local, models_called(local, None), env={}) == []
    assert models_called(cfg, "offline") == ["offline"]
