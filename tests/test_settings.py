"""Settings: defaults, validation naming every bad variable, secrets masked."""

from __future__ import annotations

import pytest

from applyflow.errors import SettingsError
from applyflow.settings import MASK, Settings, load_settings, mask_url


def test_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    cfg = load_settings()
    assert cfg.store_url == "sqlite:///.applyflow/applyflow.db"
    assert cfg.store_kind == "sqlite"
    assert cfg.model == "offline"
    assert cfg.budget_total_usd == 100.0
    assert cfg.budget_daily_usd is None
    assert cfg.budget_enforce is True
    assert cfg.budget_warn_at == 0.8
    assert cfg.budget_lease_s == 600


@pytest.mark.parametrize(
    "url,kind",
    [
        ("sqlite:////tmp/x.db", "sqlite"),
        ("mongodb://localhost:27017/applyflow", "mongo"),
        ("mongodb+srv://user:pw@cluster.example.net/applyflow", "mongo"),
    ],
)
def test_store_url_selects_the_store(monkeypatch: pytest.MonkeyPatch, url: str, kind: str) -> None:
    monkeypatch.setenv("APPLYFLOW_STORE_URL", url)
    assert load_settings().store_kind == kind


def test_every_bad_variable_is_named_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {
        "APPLYFLOW_STORE_URL": "postgres://u:hunter2@db/x",
        "APPLYFLOW_TIMEZONE": "Mars/Olympus",
        "APPLYFLOW_BUDGET_WARN_AT": "1.5",
        "APPLYFLOW_BUDGET_DAILY_USD": "-3",
        "APPLYFLOW_RATE_LIMITS": '{"openai": "lots"}',
        "APPLYFLOW_MODEL": "gpt4",
        "APPLYFLOW_JOB_CONCURRENCY": "zero",
    }
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"{len(bad)} invalid settings:")
    for name in bad:
        assert name in message
    assert "hunter2" not in message  # URL password masked
    assert "Mars/Olympus" in message  # the value is shown so the user can fix it


def test_secret_values_are_masked_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLYFLOW_ALERT_WEBHOOK_URL", "https://hooks.example/T0/CANARY-SECRET")
    monkeypatch.setenv("APPLYFLOW_MODEL_TIMEOUT_S", "-1")
    cfg_error = None
    try:
        load_settings()
    except SettingsError as exc:
        cfg_error = str(exc)
    assert cfg_error is not None and "APPLYFLOW_MODEL_TIMEOUT_S" in cfg_error
    assert "CANARY-SECRET" not in cfg_error


def test_masked_settings_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLYFLOW_API_KEY", "sk-CANARY-123")
    monkeypatch.setenv("APPLYFLOW_STORE_URL", "mongodb://app:pa55word@db.example/applyflow")
    shown = load_settings().masked()
    assert shown["api_key"] == MASK
    assert "pa55word" not in shown["store_url"]
    assert "sk-CANARY-123" not in repr(shown)


def test_json_settings_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    layer_models = '{"generate": "anthropic:claude-3-5-haiku-latest"}'
    monkeypatch.setenv("APPLYFLOW_LAYER_MODELS", layer_models)
    monkeypatch.setenv("APPLYFLOW_PRICES", '{"openai:gpt-4o": {"input": 2.5, "output": 10}}')
    monkeypatch.setenv("APPLYFLOW_SOURCES", "samples/postings.json, greenhouse:acme")
    cfg = load_settings()
    assert cfg.model_for("generate") == "anthropic:claude-3-5-haiku-latest"
    assert cfg.model_for("extract") == "offline"
    assert cfg.prices["openai:gpt-4o"].output == 10
    assert cfg.sources == ["samples/postings.json", "greenhouse:acme"]


def test_env_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("APPLYFLOW_TIMEZONE=Europe/Berlin\n")
    assert Settings().timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    "url,expected",
    [
        ("mongodb://u:p@h/db", f"mongodb://u:{MASK}@h/db"),
        ("mongodb://h/db", "mongodb://h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected
