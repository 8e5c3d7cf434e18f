"""Circuit breakers: open after repeated provider failures, fail fast, close after a good call."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, ValidationError

from applyflow.errors import BudgetExceeded, CircuitOpen
from applyflow.models import utcnow
from guards.breaker import get_breaker
from guards.call import CallContext, ModelGuard
from tests.guards._fakes import FakeChat
from tests.waiting import passes, wait_until

PROMPT = [HumanMessage("hello")]
CTX = CallContext(run_id="r", job_id="j", layer="score")


def _call(guard: ModelGuard, model: str = "fakeai:small") -> object:
    return guard.call(PROMPT, model=model, max_tokens=10, ctx=CTX)


def test_open_breaker_fails_fast_and_is_recorded(make_settings, store) -> None:
    settings = make_settings(breaker_fail_max=2, breaker_reset_s=30)
    fake = FakeChat(error=TimeoutError("provider timed out"))
    guard = ModelGuard(settings, store, model_factory=lambda m, t: fake, prefect_slots=False)
    for _ in range(2):
        with pytest.raises(TimeoutError):  # the provider's error, unchanged, also on the trip
            _call(guard)
    with pytest.raises(CircuitOpen) as err:
        _call(guard)
    assert len(fake.calls) == 2  # the third call never reached the provider
    assert err.value.provider == "fakeai" and 0 < err.value.retry_in_s <= 30
    assert "next try allowed in" in str(err.value)
    saved = {b.provider: b for b in store.breaker_states()}["fakeai"]
    assert saved.state == "open" and saved.opened_at is not None
    assert [a.kind for a in store.list_alerts()] == ["breaker_open"]
    assert store.open_reservations(utcnow()) == 0
    # Another provider has its own breaker.
    other = ModelGuard(settings, store, model_factory=lambda m, t: FakeChat(), prefect_slots=False)
    assert _call(other, "otherai:mid").text == "ok"


def test_guard_and_validation_errors_do_not_count(make_settings, store) -> None:
    settings = make_settings(breaker_fail_max=1, budget_total_usd=0.0)
    guard = ModelGuard(settings, store, model_factory=lambda m, t: FakeChat(), prefect_slots=False)
    for _ in range(3):
        with pytest.raises(BudgetExceeded):
            _call(guard)

    class Shape(BaseModel):
        n: int

    try:
        Shape(n="not a number")
    except ValidationError as exc:
        invalid = exc
    settings = make_settings(breaker_fail_max=1)
    guard = ModelGuard(
        settings, store, model_factory=lambda m, t: FakeChat(error=invalid), prefect_slots=False
    )
    for _ in range(3):
        with pytest.raises(ValidationError):
            _call(guard)
    assert get_breaker("fakeai", settings, store).state == "closed"


def test_half_open_trial_success_closes_the_breaker(make_settings, store) -> None:
    settings = make_settings(breaker_fail_max=1, breaker_reset_s=0.2)
    fake = FakeChat(error=ConnectionError("down"))
    guard = ModelGuard(settings, store, model_factory=lambda m, t: fake, prefect_slots=False)
    with pytest.raises(ConnectionError):
        _call(guard)
    with pytest.raises(CircuitOpen):
        _call(guard)
    breaker = get_breaker("fakeai", settings, store)
    wait_until(passes(breaker.check, CircuitOpen), "a trial call", timeout=10, interval=0.02)
    fake.error = None
    assert _call(guard).text == "ok"
    assert breaker.state == "closed"
    saved = {b.provider: b for b in store.breaker_states()}["fakeai"]
    assert saved.state == "closed" and saved.fail_count == 0
    assert [a.kind for a in store.list_alerts()] == ["breaker_closed", "breaker_open"]
