"""Table-driven: an invalid value for every setting is named in the single start-up error."""

from __future__ import annotations

import pytest

from applyflow.errors import SettingsError
from applyflow.settings import Settings, env_name, load_settings

# field -> a value that must be refused
INVALID = {
    "store_url": "postgresql://db/x",
    "model": "gpt-4o",
    "layer_models": '{"writeup": "openai:gpt-4o"}',
    "base_url": None,
    "api_key": None,
    "model_timeout_s": "0",
    "model_max_retries": "99",
    "structured_output": "sometimes",
    "profile": None,
    "output_dir": None,
    "timezone": "Atlantis/Capital",
    "sources": "[not json",
    "paper": "a3",
    "font_dirs": "[/fonts",
    "job_concurrency": "0",
    "claim_lease_s": "1",
    "research_fetch": "maybe",
    "http_timeout_s": "-5",
    "budget_total_usd": "-1",
    "budget_monthly_usd": "lots",
    "budget_daily_usd": "-0.5",
    "budget_per_run_usd": "ten",
    "budget_per_job_usd": "-2",
    "budget_enforce": "sometimes",
    "budget_warn_at": "0",
    "budget_lease_s": "1",
    "fallback_model": "cheap",
    "prices": '{"openai:gpt-4o": {"input": -1, "output": 2}}',
    "rate_limits": '{"openai": "fast"}',
    "token_limits": '["200000/minute"]',
    "rate_max_wait_s": "-1",
    "rate_storage_url": "ftp://limits",
    "max_parallel_calls": '{"openai": 0}',
    "breaker_fail_max": "0",
    "breaker_reset_s": "0",
    "alert_webhook_url": None,
    "alert_dedup_s": "-1",
    "dashboard_host": None,
    "dashboard_port": "70000",
    "dashboard_password": None,
    "metrics_host": None,
    "metrics_port": "0",
    "metrics_token": None,
    "trace_content": "perhaps",
    "recruitee_token": None,
    "followup_days": "0",
    "min_fit": "101",
    "prefect_server": "forever",
}
# Free-form values: any text is a valid path, URL base, secret or host name.
FREE_FORM = {name for name, value in INVALID.items() if value is None}


def test_table_covers_every_setting() -> None:
    assert set(INVALID) == set(Settings.model_fields)


@pytest.mark.parametrize("field", sorted(set(INVALID) - FREE_FORM))
def test_each_invalid_value_is_named(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    monkeypatch.setenv(env_name(field), INVALID[field])
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert env_name(field) in str(info.value)
    assert str(info.value).startswith("1 invalid setting:")


def test_all_invalid_values_give_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {name: value for name, value in INVALID.items() if value is not None}
    for name, value in bad.items():
        monkeypatch.setenv(env_name(name), value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(f"{len(bad)} invalid settings:")
    for name in bad:
        assert env_name(name) in message
