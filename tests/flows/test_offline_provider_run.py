"""Rehearsing a paid configuration: `applyflow run` with `openai:gpt-4o-mini` on the offline
provider, over HTTP, every guard engaged (key, price, caps, rate window, slot, breaker)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.money import to_nanos
from applyflow.offline_provider import OfflineProvider, start_offline_provider
from applyflow.settings import get_settings
from applyflow.store.sqlite import SQLiteStore
from guards.breaker import reset_breakers
from tests.samples import add_sample_jobs

ROOT = Path(__file__).resolve().parents[2]
JOBS = 2


@pytest.fixture
def provider() -> Iterator[OfflineProvider]:
    server = start_offline_provider()
    try:
        yield server
    finally:
        server.stop()


def test_a_paid_run_on_the_offline_provider_makes_ready_jobs_billed_at_the_real_price(
    provider: OfflineProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    db = f"sqlite:///{tmp_path / 'applyflow.db'}"
    env = {
        "MODEL": "openai:gpt-4o-mini",
        "BASE_URL": provider.url,
        "API_KEY": "practice",
        "STORE_URL": db,
        "OUTPUT_DIR": str(tmp_path / "out"),
        "PROFILE": str(ROOT / "samples" / "profile.md"),
        "BUDGET_TOTAL_USD": "1",
        "BUDGET_PER_JOB_USD": "0.05",
        "RATE_LIMITS": json.dumps({"openai": "100/minute"}),
        "RATE_STORAGE_URL": f"sqlite:///{tmp_path / 'rate.db'}",
        "JOB_CONCURRENCY": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv(f"APPLYFLOW_{name}", value)
    get_settings.cache_clear()
    reset_breakers()
    store = SQLiteStore(db)
    try:
        ids = add_sample_jobs(store, JOBS)
    finally:
        store.close()
    try:
        result = CliRunner().invoke(app, ["run", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output

    store = SQLiteStore(db)
    try:
        assert {store.get_job(i).status.value for i in ids} == {"ready"}
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "applyflow.db") as conn:
        rows = conn.execute(
            "SELECT model, input_tokens, output_tokens, cost, estimated FROM usage"
        ).fetchall()
    seen = provider.requests
    # Every layer's request came over HTTP, named by its system prompt alone, and asked for
    # the layer's schema (OpenAI json_schema).
    assert {r.mode for r in seen} == {"json_schema"}
    assert sorted(r.layer for r in seen) == sorted(
        ["extract", "research", "score", "generate"] * JOBS
    )
    assert len(rows) == len(seen) and not any(estimated for *_, estimated in rows)
    billed = sorted((r.usage["prompt_tokens"], r.usage["completion_tokens"]) for r in seen)
    assert sorted((i, o) for _, i, o, _, _ in rows) == billed
    for model, input_tokens, output_tokens, nanos, _ in rows:
        price = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            model_ref="gpt-4o-mini",
            provider_id="openai",
        )
        assert model == "openai:gpt-4o-mini"
        assert nanos == to_nanos(float(price.total_price)) > 0
