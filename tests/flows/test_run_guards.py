"""Each run stores the guard settings its worker enforces (for the dashboard's Health page)."""

from __future__ import annotations

from applyflow.settings import get_settings, load_settings
from flows.pipeline import process_jobs
from guards.health import effective_guards
from tests.flows.conftest import Env


def test_a_run_stores_its_workers_effective_guards_without_secrets(pipeline_env: Env) -> None:
    pipeline_env.set(
        rate_limits='{"offline": "7/minute"}',
        budget_daily_usd=3.5,
        breaker_fail_max=9,
        rate_max_wait_s=12,
    )
    pipeline_env.add_jobs(1)
    # The worker's settings, not the caller's: only the run sees these through its env.
    summary = process_jobs(limit=1)
    run = pipeline_env.store.get_run(summary.run_id)
    assert run.guards == effective_guards(get_settings(), ["offline"]).model_dump(mode="json")
    (offline,) = run.guards["providers"]
    assert offline == {"provider": "offline", "requests": ["7 per 1 minute"], "tokens": [],
                       "slots": 4}  # fmt: skip
    assert run.guards["caps"]["day"] == 3.5 and run.guards["breaker_fail_max"] == 9
    assert run.guards["rate_storage"].startswith("sqlite:///")
    assert run.waiting is None  # nothing waits once the run has ended


def test_effective_guards_apply_defaults_and_mask_the_rate_storage() -> None:
    settings = load_settings(
        rate_storage_url="redis://:hunter2@127.0.0.1:6379/0",
        token_limits={"openai": "200000/minute"},
        max_parallel_calls={"openai": 2},
        store_url="sqlite:///unused.db",
    )
    guards = effective_guards(settings, ["anthropic", "openai"])
    assert [p.model_dump() for p in guards.providers] == [
        {"provider": "anthropic", "requests": ["100 per 1 minute"], "tokens": [], "slots": 4},
        {"provider": "openai", "requests": ["500 per 1 minute"], "tokens": ["200000 per 1 minute"],
         "slots": 2},
    ]  # fmt: skip
    assert "hunter2" not in guards.model_dump_json()
    assert guards.rate_storage.startswith("redis://") and "127.0.0.1:6379" in guards.rate_storage
