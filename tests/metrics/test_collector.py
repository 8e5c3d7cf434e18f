"""The collector: every series read from the store at scrape time, on every store kind."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from applyflow.metrics import SERIES, StoreCollector
from applyflow.models import Alert, BreakerState, ProgressRecord, ProgressStatus, Status
from applyflow.periods import budget_scopes
from applyflow.settings import Settings, load_settings
from applyflow.spend import budget_summary
from applyflow.store import Store
from applyflow.store.runs import LAYER_DURATION_BUCKETS
from tests.factories import NOW, add_job, applied_job, make_usage


def scrape(settings: Settings, store: Store, providers: tuple[str, ...] = ()) -> dict:
    """(name, labels) -> value, as Prometheus would read the exporter's text."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(settings, store, providers=providers, clock=lambda: NOW))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _settle(store: Store, settings: Settings, call: str, usd: float, **usage: object) -> None:
    scopes = list(budget_scopes(NOW, settings.tz).values())
    store.reserve(call, dict.fromkeys(scopes), usd * 2, NOW, 600)
    store.settle(call, scopes, usd, NOW, make_usage(call_id=call, cost_usd=usd, **usage))


@pytest.fixture
def settings() -> Settings:
    return load_settings(budget_total_usd=10.0, budget_daily_usd=2.0, timezone="Europe/Berlin")


def test_every_series_matches_what_the_store_and_the_budget_say(
    store: Store, settings: Settings
) -> None:
    _settle(store, settings, "c1", 0.125, model="gpt-4o-mini", layer="score", input_tokens=10)
    _settle(store, settings, "c2", 0.5, model="gpt-4o-mini", layer="score", output_tokens=7,
            cache_read_tokens=64, output_reasoning_tokens=5)  # fmt: skip
    _settle(store, settings, "c3", 0.25, model="gpt-4o", layer="generate")
    store.reserve("open-1", {"total": 10.0}, 0.0625, NOW, 600)  # in flight
    applied_job(store, NOW - timedelta(hours=1))
    add_job(store)
    store.record_progress(
        ProgressRecord(
            run_id="r", job_id="j", layer="extract", status=ProgressStatus.COMPLETED, duration_s=0.3
        )
    )
    store.record_progress(ProgressRecord(run_id="r", job_id="k", layer="extract",
                                         status=ProgressStatus.FAILED, duration_s=9.0))  # fmt: skip
    store.record_alert(Alert(key="k1", kind="budget", message="80%", at=NOW), 60)
    store.save_breaker_state(BreakerState(provider="openai", state="open", updated_at=NOW))

    got = scrape(settings, store, providers=("anthropic",))

    spend = {k[1]: v for k, v in got.items() if k[0] == "applyflow_spend_usd_total"}
    assert spend == {
        (("layer", "generate"), ("model", "gpt-4o"), ("provider", "openai")): 0.25,
        (("layer", "score"), ("model", "gpt-4o-mini"), ("provider", "openai")): 0.625,
    }
    score = (("layer", "score"), ("model", "gpt-4o-mini"), ("provider", "openai"))
    assert got[("applyflow_model_calls_total", score)] == 2
    mini = (("model", "gpt-4o-mini"), ("provider", "openai"))
    assert got[("applyflow_tokens_total", (("direction", "input"), *mini))] == 110
    assert got[("applyflow_tokens_total", (("direction", "output"), *mini))] == 57
    classes = {k[1]: v for k, v in got.items() if k[0] == "applyflow_token_classes_total"}
    assert classes == {  # only the classes some call had, apart from the directions they are in
        (("class", "cache_read"), *mini): 64,
        (("class", "output_reasoning"), *mini): 5,
    }

    for s in budget_summary(settings, store, NOW):
        where = (("scope", s.kind),)
        assert got[("applyflow_budget_spent_usd", where)] == s.spent
        assert got[("applyflow_budget_reserved_usd", where)] == s.reserved
        assert got.get(("applyflow_budget_cap_usd", where)) == s.cap  # month: no cap, no series
        assert got.get(("applyflow_budget_remaining_usd", where)) == s.remaining
    assert got[("applyflow_budget_spent_usd", (("scope", "total"),))] == 0.875
    assert got[("applyflow_budget_reserved_usd", (("scope", "total"),))] == 0.0625
    assert got[("applyflow_budget_remaining_usd", (("scope", "day"),))] == 1.125

    for status, count in store.status_counts().items():
        assert got[("applyflow_jobs", (("status", status),))] == count
    assert got[("applyflow_jobs", (("status", Status.APPLIED.value),))] == 1
    assert got[("applyflow_applications_total", ())] == 1

    extract = (("layer", "extract"),)
    assert got[("applyflow_layer_duration_seconds_count", extract)] == 1
    assert got[("applyflow_layer_duration_seconds_sum", extract)] == pytest.approx(0.3)
    assert got[("applyflow_layer_failures_total", extract)] == 1
    assert got[("applyflow_breaker_open", (("provider", "openai"),))] == 1
    assert got[("applyflow_breaker_open", (("provider", "anthropic"),))] == 0
    assert got[("applyflow_alerts_total", (("kind", "budget"),))] == 1
    assert got[("applyflow_store_up", ())] == 1

    names = {name for name, _ in got}
    parts = ("_bucket", "_sum", "_count")
    served = names | {n.removesuffix(p) for n in names for p in parts if n.endswith(p)}
    assert set(SERIES) <= served, f"not served: {set(SERIES) - served}"


def test_layer_durations_are_a_cumulative_histogram(store: Store, settings: Settings) -> None:
    for job, seconds in (("a", 0.05), ("b", 0.4), ("c", 0.5), ("d", 700.0)):
        store.record_progress(
            ProgressRecord(
                run_id="r",
                job_id=job,
                layer="score",
                status=ProgressStatus.COMPLETED,
                duration_s=seconds,
            )
        )
    got = scrape(settings, store)
    buckets = {dict(k[1])["le"]: v for k, v in got.items()
               if k[0] == "applyflow_layer_duration_seconds_bucket"}  # fmt: skip
    assert len(buckets) == len(LAYER_DURATION_BUCKETS) + 1
    assert (buckets["0.1"], buckets["0.25"], buckets["0.5"], buckets["600.0"]) == (1, 1, 3, 3)
    assert buckets["+Inf"] == 4
    assert got[("applyflow_layer_duration_seconds_sum", (("layer", "score"),))] == pytest.approx(
        700.95
    )


def test_an_unreadable_store_gives_store_up_zero_and_nothing_else(
    sqlite_store: Store, settings: Settings
) -> None:
    sqlite_store.close()  # every read now raises StoreError
    assert scrape(settings, sqlite_store) == {("applyflow_store_up", ()): 0}
