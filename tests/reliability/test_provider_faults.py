"""The guarded call against a faulty OpenAI-compatible provider, through langchain-openai."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest
from langchain_core.messages import HumanMessage

from applyflow.errors import CircuitOpen
from applyflow.models import utcnow
from applyflow.settings import Settings
from applyflow.store.sqlite import SQLiteStore
from guards.breaker import get_breaker
from guards.call import CallContext, CallResult, ModelGuard
from tests.reliability.conftest import MODEL
from tests.reliability.fake_openai import FakeOpenAI
from tests.waiting import passes, wait_until

DEADLINE_S = 10.0


def _guard(settings: Settings) -> tuple[ModelGuard, SQLiteStore]:
    store = SQLiteStore(settings.store_url)
    return ModelGuard(settings, store, prefect_slots=False), store


def _call(guard: ModelGuard, job: str = "job-1") -> CallResult:
    return guard.call(
        [HumanMessage("hello")], model=MODEL, max_tokens=50, ctx=CallContext(job_id=job)
    )


def _gaps(fake: FakeOpenAI) -> list[float]:
    times = [r.at for r in fake.requests]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_retries_honour_retry_after(fake_openai: FakeOpenAI, make_settings: Callable):
    guard, store = _guard(make_settings(model_max_retries=2))
    fake_openai.script("429", "503")  # both carry Retry-After: 0.3
    result = _call(guard)
    assert [r.status for r in fake_openai.requests] == [429, 503, 200]
    # The client waited at least what the server asked before each retry.
    assert all(gap >= fake_openai.retry_after_s for gap in _gaps(fake_openai))
    assert result.usage.output_tokens > 0
    assert store.usage_total().calls == 1 == len(fake_openai.billed())
    assert store.open_reservations(utcnow()) == 0


def test_retries_back_off_without_retry_after(fake_openai: FakeOpenAI, make_settings: Callable):
    guard, _ = _guard(make_settings(model_max_retries=2))
    fake_openai.script("500", "500")
    _call(guard)
    first, second = _gaps(fake_openai)
    # openai's client waits ~0.5 s then ~1 s (minus up to 25% jitter): the wait grows.
    assert first >= 0.3 and second > first


# fault -> (exception the caller sees, whether the provider billed it)
FAILING = {
    "429": (openai.RateLimitError, False),
    "500": (openai.InternalServerError, False),
    "503": (openai.InternalServerError, False),
    "malformed": (ValueError, False),
}
# Sent, then no answer: the provider may bill them (settled at the input estimate).
UNANSWERED = {"hang": openai.APITimeoutError, "reset": openai.APIConnectionError}


@pytest.mark.parametrize("fault", sorted(FAILING))
def test_a_failed_call_releases_its_reservation_and_records_no_usage(
    fault: str, fake_openai: FakeOpenAI, make_settings: Callable
):
    guard, store = _guard(make_settings(model_timeout_s=0.5))
    fake_openai.script(fault)
    error, _ = FAILING[fault]
    with pytest.raises(error):
        _call(guard)
    fake_openai.release_hangs()
    assert len(fake_openai.requests) == 1
    assert store.open_reservations(utcnow()) == 0
    assert store.usage_total().calls == 0 == len(fake_openai.billed())
    spent = store.scope_states(["total"], utcnow())["total"]
    assert spent.spent == 0 and spent.reserved == 0
    # A good call afterwards is billed and recorded once.
    _call(guard)
    assert store.usage_total().calls == 1 == len(fake_openai.billed())


@pytest.mark.parametrize("fault", sorted(UNANSWERED))
def test_a_sent_call_without_an_answer_settles_at_its_input_estimate(
    fault: str, fake_openai: FakeOpenAI, make_settings: Callable
):
    guard, store = _guard(make_settings(model_timeout_s=0.5))
    fake_openai.script(fault)
    with pytest.raises(UNANSWERED[fault]):
        _call(guard)
    fake_openai.release_hangs()
    assert len(fake_openai.requests) == 1 and fake_openai.billed() == []
    usage = store.usage_total()
    assert usage.calls == 1 and usage.output_tokens == 0 and usage.cost_usd > 0
    state = store.scope_states(["total"], utcnow())["total"]
    assert state.reserved == 0 and state.spent == pytest.approx(usage.cost_usd)
    assert store.open_reservations(utcnow()) == 0


@pytest.mark.parametrize("fault", ["bad_schema", "oversized"])
def test_a_billed_but_useless_reply_is_recorded_once(
    fault: str, fake_openai: FakeOpenAI, make_settings: Callable
):
    guard, store = _guard(make_settings())
    fake_openai.script(fault)
    result = _call(guard)
    [billed] = fake_openai.billed()
    usage = store.usage_total()
    assert usage.calls == 1
    assert (usage.input_tokens, usage.output_tokens) == (
        billed.usage["prompt_tokens"],
        billed.usage["completion_tokens"],
    )
    assert usage.cost_usd == pytest.approx(result.usage.cost_usd) and usage.cost_usd > 0
    assert store.open_reservations(utcnow()) == 0
    state = store.scope_states(["total"], utcnow())["total"]
    assert state.reserved == 0 and state.spent == pytest.approx(usage.cost_usd)


def test_breaker_opens_fails_fast_and_half_opens(fake_openai: FakeOpenAI, make_settings: Callable):
    settings = make_settings(breaker_fail_max=3, breaker_reset_s=0.5)
    guard, store = _guard(settings)
    fake_openai.script("500", "reset", "500", "500")
    for _ in range(3):
        with pytest.raises(openai.APIError):
            _call(guard)
    assert len(fake_openai.requests) == 3
    # Open: refused before sending, nothing reserved, the server sees nothing.
    with pytest.raises(CircuitOpen, match="openai circuit breaker is open") as refused:
        _call(guard)
    assert 0 < refused.value.retry_in_s <= 0.5
    assert len(fake_openai.requests) == 3
    assert store.open_reservations(utcnow()) == 0
    [saved] = [b for b in store.breaker_states() if b.provider == "openai"]
    assert saved.state == "open"
    assert any(a.kind == "breaker_open" for a in store.list_alerts())

    breaker = get_breaker("openai", settings, store)
    wait_until(passes(breaker.check, CircuitOpen), "the breaker to half-open", timeout=DEADLINE_S)
    # Half-open: one trial call goes to the server; it fails, so the breaker opens again.
    with pytest.raises(openai.InternalServerError):
        _call(guard)
    assert len(fake_openai.requests) == 4
    with pytest.raises(CircuitOpen):
        _call(guard)
    assert len(fake_openai.requests) == 4

    wait_until(passes(breaker.check, CircuitOpen), "the breaker to half-open", timeout=DEADLINE_S)
    _call(guard)  # the trial succeeds: closed again
    assert breaker.state == "closed"
    assert [b.state for b in store.breaker_states() if b.provider == "openai"] == ["closed"]
    # The billed call, and the reset one: sent, so settled at its input estimate.
    assert store.usage_total().calls == 2 == len(fake_openai.billed()) + 1
    assert store.open_reservations(utcnow()) == 0


def test_a_provider_429_does_not_open_the_breaker(fake_openai: FakeOpenAI, make_settings: Callable):
    guard, _ = _guard(make_settings(breaker_fail_max=2))
    fake_openai.script("429", "429", "429")
    for _ in range(3):
        with pytest.raises(openai.RateLimitError):
            _call(guard)
    _call(guard)  # still closed: rate refusals are not outages
    assert len(fake_openai.requests) == 4
