"""Budget guard through the guarded call: reserve, settle, release, caps, warnings, fallback."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from langchain_core.messages import HumanMessage

from applyflow.errors import BudgetExceeded, PricingError
from applyflow.models import UsageRecord, utcnow
from applyflow.spend import budget_summary
from guards.alerts import alert
from guards.budget import BudgetGuard
from guards.call import CallContext, ModelGuard
from guards.estimate import estimate_input_tokens
from guards.pricing import cost_usd
from tests.guards._fakes import Factory, FakeChat

PROMPT = [HumanMessage("Extract the title from: Senior Python Engineer at Acme, Berlin.")]
CTX = CallContext(run_id="run-1", job_id="job-1", layer="extract")


def guard_for(settings, store, **fakes: FakeChat) -> tuple[ModelGuard, Factory]:
    factory = Factory(**({"default": FakeChat()} | fakes))
    return ModelGuard(settings, store, model_factory=factory, prefect_slots=False), factory


def test_call_settles_at_actual_usage_and_writes_one_row(make_settings, store) -> None:
    guard, factory = guard_for(make_settings(), store, default=FakeChat(reply="Engineer"))
    result = guard.call(PROMPT, model="fakeai:small", max_tokens=400, ctx=CTX)
    assert result.text == "Engineer" and result.model == "fakeai:small"
    assert not result.fallback and result.forecast_usd is None
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (10, 5, False)
    assert usage.cost_usd == pytest.approx((10 * 1.0 + 5 * 2.0) / 1e6)
    assert (usage.run_id, usage.job_id, usage.layer, usage.provider) == (
        "run-1", "job-1", "extract", "fakeai"
    )  # fmt: skip
    assert factory.built == [("fakeai:small", 400)]
    assert store.usage_total().calls == 1
    now = utcnow()
    assert store.open_reservations(now) == 0
    assert store.scope_states(["total", "job:job-1"], now)["job:job-1"].spent == pytest.approx(
        usage.cost_usd
    )


def test_reservation_is_the_worst_case(make_settings, store) -> None:
    settings = make_settings()
    seen = []
    fake = FakeChat()
    fake.during = lambda: seen.append(store.scope_states(["total"], utcnow())["total"].reserved)
    guard, _ = guard_for(settings, store, default=fake)
    guard.call(PROMPT, model="fakeai:small", max_tokens=1000, ctx=CTX)
    expected = cost_usd(settings, "fakeai:small", estimate_input_tokens(PROMPT), 1000)
    assert seen == [pytest.approx(expected)]
    assert estimate_input_tokens(PROMPT) >= len(PROMPT[0].content) / 4  # errs on the high side


def test_no_usage_settles_at_the_estimate_marked_estimated(make_settings, store) -> None:
    guard, _ = guard_for(make_settings(), store, default=FakeChat(input_tokens=None))
    result = guard.call(PROMPT, model="fakeai:small", max_tokens=300, ctx=CTX)
    assert result.usage.estimated
    assert result.usage.output_tokens == 300
    assert result.usage.input_tokens == estimate_input_tokens(PROMPT)
    assert store.usage_total().cost_usd == pytest.approx(result.usage.cost_usd)


def test_over_cap_raises_naming_scope_and_sends_nothing(make_settings, store) -> None:
    settings = make_settings(budget_daily_usd=0.001)
    guard, factory = guard_for(settings, store)
    with pytest.raises(BudgetExceeded) as err:
        guard.call(PROMPT, model="fakeai:big", max_tokens=1000, ctx=CTX)
    exc = err.value
    assert exc.scope.startswith("day:") and exc.cap == 0.001
    worst = cost_usd(settings, "fakeai:big", estimate_input_tokens(PROMPT), 1000)
    assert (exc.spent, exc.reserved, exc.needed) == (0, 0, pytest.approx(worst))
    assert str(exc).startswith("day budget exceeded: $0.0000 spent + $0.0000 reserved + $")
    assert str(exc).endswith("> $0.0010 cap")
    assert factory.built == [] and store.usage_total().calls == 0
    assert store.open_reservations(utcnow()) == 0
    assert [a.kind for a in store.list_alerts()] == ["budget_exceeded"]


def test_unlimited_scopes_never_block(make_settings, store) -> None:
    settings = make_settings(budget_total_usd=None)
    guard, _ = guard_for(settings, store, default=FakeChat(input_tokens=10**6, output_tokens=10**6))
    for _ in range(5):
        guard.call(PROMPT, model="fakeai:big", max_tokens=10**6, ctx=CTX)
    assert store.usage_total().cost_usd == pytest.approx(5 * 300.0)
    assert all(s.state == "unlimited" for s in budget_summary(settings, store, utcnow()))


def test_enforcement_off_records_and_warns_but_never_raises(
    make_settings, store, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(budget_total_usd=0.01, budget_enforce=False)
    guard, _ = guard_for(settings, store, default=FakeChat(input_tokens=1000, output_tokens=1000))
    with caplog.at_level(logging.WARNING, logger="applyflow"):
        for _ in range(3):
            guard.call(PROMPT, model="fakeai:big", max_tokens=1000, ctx=CTX)
    assert store.usage_total().calls == 3
    assert store.usage_total().cost_usd == pytest.approx(3 * 0.3)
    kinds = {a.kind for a in store.list_alerts()}
    assert {"budget_exceeded", "budget_warning"} <= kinds
    assert "not enforced" in caplog.text
    total = next(s for s in budget_summary(settings, store, utcnow()) if s.kind == "total")
    assert total.remaining == 0.0 and total.state == "exceeded"  # never below 0


def test_fallback_model_used_when_the_primary_does_not_fit(make_settings, store) -> None:
    settings = make_settings(budget_total_usd=0.05, fallback_model="fakeai:small")
    cheap = FakeChat(reply="from the fallback")
    guard, factory = guard_for(settings, store, **{"fakeai:small": cheap})
    result = guard.call(PROMPT, model="fakeai:big", max_tokens=1000, ctx=CTX)
    assert result.fallback and result.usage.fallback
    assert result.model == "fakeai:small" and result.usage.model == "fakeai:small"
    assert result.text == "from the fallback"
    assert factory.built == [("fakeai:small", 1000)]


def test_fallback_to_another_provider_and_when_neither_fits(make_settings, store) -> None:
    settings = make_settings(budget_total_usd=0.05, fallback_model="otherai:mid")
    guard, factory = guard_for(settings, store)
    result = guard.call(PROMPT, model="fakeai:big", max_tokens=1000, ctx=CTX)
    assert result.fallback and result.usage.provider == "otherai"
    tight = make_settings(budget_total_usd=0.000001, fallback_model="fakeai:small")
    guard, factory = guard_for(tight, store)
    with pytest.raises(BudgetExceeded) as err:
        guard.call(PROMPT, model="fakeai:big", max_tokens=1000, ctx=CTX)
    big = cost_usd(tight, "fakeai:big", estimate_input_tokens(PROMPT), 1000)
    assert err.value.needed == pytest.approx(big)  # the primary's error is the one reported
    assert factory.built == []


def test_provider_error_propagates_unchanged_and_releases(make_settings, store) -> None:
    boom = ConnectionError("provider went away")
    guard, _ = guard_for(make_settings(), store, default=FakeChat(error=boom))
    with pytest.raises(ConnectionError) as err:
        guard.call(PROMPT, model="fakeai:small", max_tokens=100, ctx=CTX)
    assert err.value is boom
    now = utcnow()
    assert store.open_reservations(now) == 0
    assert store.scope_states(["total"], now)["total"].spent == 0
    assert store.usage_total().calls == 0


def test_unpriced_model_or_price_as_refused_before_sending(make_settings, store) -> None:
    guard, factory = guard_for(make_settings(), store)
    with pytest.raises(PricingError, match="fakeai:unpriced"):
        guard.call(PROMPT, model="fakeai:unpriced", max_tokens=10, ctx=CTX)
    with pytest.raises(PricingError, match="openai:not-a-real-model"):
        guard.call(
            PROMPT, model="offline", max_tokens=10, ctx=CTX, price_as="openai:not-a-real-model"
        )
    assert factory.built == []


def test_price_as_forecasts_offline_usage(make_settings, store) -> None:
    settings = make_settings(prices={"openai:gpt-4o": {"input": 2.5, "output": 10.0}})
    guard, _ = guard_for(settings, store, default=FakeChat(input_tokens=1000, output_tokens=500))
    result = guard.call(PROMPT, model="offline", max_tokens=600, ctx=CTX, price_as="openai:gpt-4o")
    assert result.usage.cost_usd == 0.0
    assert result.forecast_usd == pytest.approx((1000 * 2.5 + 500 * 10.0) / 1e6)


def test_warning_alert_once_per_scope_and_period(make_settings, store) -> None:
    settings = make_settings(budget_daily_usd=1.0, budget_total_usd=None, budget_warn_at=0.8)
    budget = BudgetGuard(settings, store, lambda *a, **k: alert(settings, store, *a, **k))
    day1 = datetime(2026, 3, 2, 12, tzinfo=UTC)

    def spend(at: datetime, amount_usd: float) -> None:
        reservation = budget.reserve("fakeai:small", 0, int(amount_usd * 1e6 / 2), now=at)
        usage = UsageRecord(
            call_id=reservation.id,
            provider="fakeai",
            model="fakeai:small",
            input_tokens=0,
            output_tokens=1,
            cost_usd=reservation.amount,
            at=at,
        )
        budget.settle(reservation, reservation.amount, usage, now=at)  # fmt: skip

    spend(day1, 0.5)
    assert store.list_alerts() == []
    spend(day1 + timedelta(minutes=1), 0.35)  # 85%: crosses the threshold
    spend(day1 + timedelta(hours=2), 0.05)  # 90%: still the same day, no second alert
    warnings = [a for a in store.list_alerts() if a.kind == "budget_warning"]
    assert [a.key for a in warnings] == ["budget_warning:day:2026-03-02:cap=1"]
    spend(day1 + timedelta(days=1), 0.9)  # a new period warns again
    keys = sorted(a.key for a in store.list_alerts() if a.kind == "budget_warning")
    assert keys == ["budget_warning:day:2026-03-02:cap=1", "budget_warning:day:2026-03-03:cap=1"]


def test_sums_by_provider_and_layer_are_exact(make_settings, store) -> None:
    settings = make_settings()
    fakes = {"fakeai:small": FakeChat(input_tokens=1000, output_tokens=500),
             "otherai:mid": FakeChat(input_tokens=2000, output_tokens=250)}  # fmt: skip
    guard, _ = guard_for(settings, store, **fakes)
    plan = (
        [("fakeai:small", "extract")] * 3
        + [("otherai:mid", "score")] * 2
        + [("fakeai:small", "score")]
    )
    for model, layer in plan:
        guard.call(PROMPT, model=model, max_tokens=1000, ctx=CallContext("r", "j", layer))
    nanos = {"fakeai:small": 2_000_000, "otherai:mid": 7_000_000}  # $0.002 and $0.007
    by_provider = {g.key: g for g in store.spend_by("provider")}
    assert by_provider["fakeai"].calls == 4 and by_provider["otherai"].calls == 2
    assert by_provider["fakeai"].cost_usd == 4 * nanos["fakeai:small"] / 1e9
    assert by_provider["otherai"].cost_usd == 2 * nanos["otherai:mid"] / 1e9
    assert (
        by_provider["fakeai"].input_tokens == 4000 and by_provider["otherai"].output_tokens == 500
    )
    by_layer = {g.key: g for g in store.spend_by("layer")}
    assert by_layer["extract"].cost_usd == 3 * nanos["fakeai:small"] / 1e9
    assert by_layer["score"].cost_usd == (nanos["fakeai:small"] + 2 * nanos["otherai:mid"]) / 1e9


def test_ten_threads_times_hundred_calls_are_all_recorded(make_settings, sqlite_store) -> None:
    guard, _ = guard_for(
        make_settings(), sqlite_store, default=FakeChat(input_tokens=7, output_tokens=3)
    )

    def worker(n: int) -> int:
        for i in range(100):
            guard.call(PROMPT, model="fakeai:small", max_tokens=50,
                       ctx=CallContext(f"run-{n}", f"job-{n}-{i}", "extract"))  # fmt: skip
        return n

    with ThreadPoolExecutor(max_workers=10) as pool:
        assert sorted(pool.map(worker, range(10))) == list(range(10))
    total = sqlite_store.usage_total()
    assert (total.calls, total.input_tokens, total.output_tokens) == (1000, 7000, 3000)
    assert total.cost_usd == pytest.approx(1000 * 13 / 1e6)
    assert sqlite_store.open_reservations(utcnow()) == 0


def test_wide_characters_raise_the_input_estimate() -> None:
    ascii_prompt = [HumanMessage(content="a" * 300)]
    cjk_prompt = [HumanMessage(content="職" * 300)]
    assert estimate_input_tokens(cjk_prompt) >= estimate_input_tokens(ascii_prompt) + 300


def test_a_bill_above_the_reservation_raises_an_overrun_alert(make_settings, store) -> None:
    settings = make_settings()
    # The provider bills far more input than the prompt could need: the estimate was beaten.
    guard, _ = guard_for(settings, store, default=FakeChat(input_tokens=10**6, output_tokens=5))
    result = guard.call(PROMPT, model="fakeai:small", max_tokens=10, ctx=CTX)
    assert result.usage.cost_usd > 1.0  # 1M input tokens at $1 per 1M
    alerts = store.list_alerts()
    assert [a.kind for a in alerts] == ["budget_overrun"]
    assert "above its" in alerts[0].message and "fakeai:small" in alerts[0].message


def test_a_bill_within_the_reservation_raises_no_alert(make_settings, store) -> None:
    guard, _ = guard_for(make_settings(), store, default=FakeChat(input_tokens=5, output_tokens=5))
    guard.call(PROMPT, model="fakeai:small", max_tokens=10, ctx=CTX)
    assert store.list_alerts() == []


def test_the_input_estimate_counts_wide_characters_twice() -> None:
    from langchain_core.messages import HumanMessage
    from langchain_core.messages.utils import count_tokens_approximately

    text = "Café in 東京 — 10 years of Go 😀"  # é is narrow; 東, 京, the dash and 😀 are wide
    messages = [HumanMessage(text), HumanMessage("plain ascii")]
    base = count_tokens_approximately(messages, chars_per_token=3.0)
    assert estimate_input_tokens(messages) == base + 4
