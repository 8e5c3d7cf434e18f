"""Reliability fixtures: the fault-injecting OpenAI server, settings and a pipeline on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from applyflow.settings import Settings, get_settings, load_settings
from applyflow.store import Store
from applyflow.store.sqlite import SQLiteStore
from guards.breaker import reset_breakers
from tests.reliability.fake_openai import FakeOpenAI, running
from tests.samples import add_sample_jobs

ROOT = Path(__file__).resolve().parents[2]
MODEL = "openai:gpt-4o-mini"
# Looks like a key, is not one; the secrets tests use their own canary.
FAKE_KEY = "sk-fake-reliability-0000"


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    reset_breakers()
    yield
    reset_breakers()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """The provider; ``Retry-After`` is 0.3 s so retries stay quick."""
    yield from running(retry_after_s=0.3, hang_s=20.0)


def provider_settings(fake: FakeOpenAI, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Settings values for calling ``openai:gpt-4o-mini`` on the fake server."""
    values: dict[str, Any] = {
        "store_url": f"sqlite:///{tmp_path / 'applyflow.db'}",
        "rate_storage_url": "memory://",
        "model": MODEL,
        "base_url": fake.url,
        "api_key": FAKE_KEY,
        "model_timeout_s": 1.0,
        "model_max_retries": 0,
        "breaker_fail_max": 50,
        "breaker_reset_s": 30,
        "budget_total_usd": 100,
        "output_dir": tmp_path / "out",
        "profile": ROOT / "samples" / "profile.md",
        "job_concurrency": 2,
    }
    values.update(overrides)
    return values


@pytest.fixture
def make_settings(fake_openai: FakeOpenAI, tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return load_settings(**provider_settings(fake_openai, tmp_path, **overrides))

    return make


@dataclass
class Pipeline:
    """A pipeline configured by environment (as a worker is), on the fake provider."""

    store: Store
    fake: FakeOpenAI
    tmp: Path
    set: Callable[..., None]

    def add_jobs(self, n: int, *, skip: int = 0) -> list[str]:
        return add_sample_jobs(self.store, n, skip=skip)

    def title(self, job_id: str) -> str:
        return self.store.get_job(job_id).title


@pytest.fixture
def pipeline(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake_openai: FakeOpenAI,
    prefect_harness: None,
) -> Iterator[Pipeline]:
    """Env settings for the fake provider; layer retries keep their count but not their wait."""
    import guards.concurrency
    from flows.jobs import LAYER_TASKS

    def set_env(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"APPLYFLOW_{name.upper()}", str(value))
        get_settings.cache_clear()

    set_env(**provider_settings(fake_openai, tmp_path))
    for layer_task in LAYER_TASKS.values():
        # Retries keep their number and condition; only the 2 s / 8 s waits would slow tests.
        monkeypatch.setattr(layer_task, "retry_delay_seconds", [0.0, 0.0])
    # No llm-* Prefect slot: inside task runs each acquisition takes ~2 s on the test harness
    # (see docs/reliability.md); slots are covered by tests/guards/test_prefect.py.
    monkeypatch.setattr(guards.concurrency, "prefect_api_available", lambda: False)
    store = SQLiteStore(f"sqlite:///{tmp_path / 'applyflow.db'}")
    try:
        yield Pipeline(store, fake_openai, tmp_path, set_env)
    finally:
        store.close()
        get_settings.cache_clear()
