"""The guarded call's order: breaker -> budget reservation -> Prefect slot -> rate window -> call.

The rate window is taken last, so a window refused (full, or not free within the wait) gives
back the slot and the reservation, and a call refused before it never takes a window.
"""

from __future__ import annotations

import uuid

import pytest
from langchain_core.messages import HumanMessage

from applyflow.errors import BudgetExceeded, CircuitOpen, RateLimited
from applyflow.models import utcnow
from flows.deployments import setup_prefect
from guards.call import CallContext, ModelGuard
from guards.concurrency import limit_name
from tests.guards._fakes import FakeChat


def _call(guard: ModelGuard, model: str) -> None:
    guard.call([HumanMessage("hi")], model=model, max_tokens=5, ctx=CallContext(job_id="j"))


@pytest.mark.usefixtures("prefect_harness")
def test_a_refused_window_gives_back_the_slot_and_the_reservation(
    make_settings, sqlite_store
) -> None:
    from prefect.client.orchestration import get_client

    from guards.slots import slot_client

    provider = f"order{uuid.uuid4().hex[:8]}"
    model = f"{provider}:m"
    settings = make_settings(
        prices={model: {"input": 1, "output": 1}},
        rate_limits={provider: "1/minute"},
        rate_max_wait_s=0,
        max_parallel_calls={provider: 1},
    )
    setup_prefect(settings.model_copy(update={"model": model}))
    fake = FakeChat()
    guard = ModelGuard(settings, sqlite_store, model_factory=lambda m, t: fake, prefect_slots=True)
    _call(guard, model)
    with pytest.raises(RateLimited, match="1 requests/minute"):
        _call(guard, model)  # took the slot and the reservation, then the window refused
    assert len(fake.calls) == 1
    assert sqlite_store.open_reservations(utcnow()) == 0
    assert sqlite_store.scope_states(["total"], utcnow())["total"].reserved == 0
    slot_client().flush()  # a given-back slot is released by a background thread
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(limit_name(provider)).active_slots == 0
    assert sqlite_store.usage_total().calls == 1


def test_calls_refused_before_the_window_never_take_it(make_settings, sqlite_store) -> None:
    settings = make_settings(
        budget_total_usd=0.001, rate_limits={"fakeai": "5/minute"}, breaker_fail_max=1
    )
    fake = FakeChat(error=ConnectionRefusedError("provider down"))
    guard = ModelGuard(settings, sqlite_store, model_factory=lambda m, t: fake, prefect_slots=False)
    with pytest.raises(BudgetExceeded):  # $0.001 cannot hold fakeai:big's worst case
        guard.call([HumanMessage("hi")], model="fakeai:big", max_tokens=50, ctx=CallContext())
    with pytest.raises(ConnectionRefusedError):  # reached the provider: one request
        _call(guard, "fakeai:small")
    with pytest.raises(CircuitOpen):  # the breaker opened on that failure
        _call(guard, "fakeai:small")
    [window] = guard.rate.windows("fakeai")
    assert window.remaining == 4 and len(fake.calls) == 1  # only the call that was sent
