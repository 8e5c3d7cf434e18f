"""Process entry points for the cross-process guard tests (spawned, so they must be importable);
``tests.multiproc`` starts them."""

from __future__ import annotations

import os
import time
from typing import Any

from applyflow.errors import BudgetExceeded, RateLimited
from applyflow.settings import Settings, load_settings
from tests.multiproc import WAIT_S

RATE_PROVIDER = "xproc"
SPEND_MODEL = "fakeai:unit"
SPEND_CAP_USD = 1.0


def rate_worker(rate_url: str, attempts: int, barrier: Any, results: Any) -> None:
    """Try ``attempts`` admissions at once (no waiting); report admission timestamps."""
    from guards.rate import RateGuard

    settings = load_settings(
        rate_storage_url=rate_url, rate_limits={RATE_PROVIDER: "30/minute"}, rate_max_wait_s=0
    )
    guard = RateGuard(settings)
    barrier.wait(WAIT_S)
    admitted = []
    for _ in range(attempts):
        try:
            guard.acquire(RATE_PROVIDER)
        except RateLimited:
            continue
        admitted.append(time.time())
    results.put((os.getpid(), admitted))


def spend_settings(store_url: str, rate_url: str = "memory://") -> Settings:
    """$1.00 total cap; each call reserves $0.05 (50 output tokens) and costs $0.03."""
    return load_settings(
        store_url=store_url,
        budget_total_usd=SPEND_CAP_USD,
        prices={SPEND_MODEL: {"input": 0, "output": 1000}},
        rate_storage_url=rate_url,
    )


def spend_worker(store_url: str, rate_url: str, barrier: Any, results: Any) -> None:
    """Call through ``ModelGuard`` until the budget refuses. Reports the calls made and the most
    money the store held on the total scope (spent + reserved, nano-dollars) seen mid-call."""
    from langchain_core.messages import HumanMessage

    from applyflow.models import utcnow
    from applyflow.money import to_nanos
    from applyflow.store.sqlite import SQLiteStore
    from guards.call import CallContext, ModelGuard
    from tests.guards._fakes import FakeChat

    store = SQLiteStore(store_url)
    peak = 0

    def sample_held() -> None:  # runs between this call's reservation and its settlement
        nonlocal peak
        total = store.scope_states(["total"], utcnow())["total"]
        peak = max(peak, to_nanos(total.spent) + to_nanos(total.reserved))

    fake = FakeChat(input_tokens=4, output_tokens=30, during=sample_held)
    guard = ModelGuard(
        spend_settings(store_url, rate_url),
        store,
        model_factory=lambda m, t: fake,
        prefect_slots=False,
    )
    barrier.wait(WAIT_S)
    calls = 0
    try:
        while True:
            guard.call(
                [HumanMessage("hi")], model=SPEND_MODEL, max_tokens=50, ctx=CallContext("xproc")
            )
            calls += 1
    except BudgetExceeded:
        pass
    finally:
        store.close()
    results.put({"calls": calls, "peak_nanos": peak})


def crashed_holder(store_url: str) -> None:
    """Reserve $0.90 of the $1.00 cap and die without settling or releasing, like a killed
    worker (``os._exit``: no cleanup runs); exit code 17."""
    from applyflow.store.sqlite import SQLiteStore
    from guards.alerts import alert
    from guards.budget import BudgetGuard

    settings = spend_settings(store_url)
    store = SQLiteStore(store_url)
    budget = BudgetGuard(settings, store, lambda *a, **k: alert(settings, store, *a, **k))
    budget.reserve(SPEND_MODEL, 0, 900)
    os._exit(17)


ARRIVAL_MODEL = "openai:gpt-4o-mini"


def arrival_worker(
    store_url: str,
    rate_url: str,
    provider_url: str,
    limit: str,
    threads: int,
    calls_each: int,
    slots: bool,
    barrier: Any,
    results: Any,
) -> None:
    """``threads`` threads each making ``calls_each`` calls through ``ModelGuard`` to an
    OpenAI-compatible provider at ``provider_url`` (the real client, over HTTP), sharing the
    rate ``limit`` in ``rate_url`` and the budget in ``store_url``; ``slots``: each call holds
    an ``llm-openai`` slot of the Prefect API in ``PREFECT_API_URL``. Reports the calls made;
    each process's warm-up request reaches the provider before the barrier, before any guarded
    one."""
    import threading

    from langchain_core.messages import HumanMessage

    from applyflow.llm import make_chat_model
    from applyflow.store.sqlite import SQLiteStore
    from guards.call import CallContext, ModelGuard

    settings = load_settings(
        store_url=store_url,
        model=ARRIVAL_MODEL,
        base_url=provider_url,
        api_key="sk-practice-0000",
        model_max_retries=0,
        rate_storage_url=rate_url,
        rate_limits={"openai": limit},
        rate_max_wait_s=WAIT_S,
        budget_total_usd=10,
    )
    # Warm up (one call, outside the guard, before the barrier): the measured calls then never
    # compete with another process still loading LangChain and the OpenAI client.
    make_chat_model(settings, ARRIVAL_MODEL, max_tokens=20).invoke([HumanMessage("warm-up")])
    store = SQLiteStore(store_url)
    guard = ModelGuard(settings, store, prefect_slots=slots)
    done: list[int] = []

    def work(n: int) -> None:
        for i in range(calls_each):
            guard.call(
                [HumanMessage(f"call {os.getpid()}-{n}-{i}")],
                model=ARRIVAL_MODEL,
                max_tokens=20,
                ctx=CallContext("arrivals"),
            )
            done.append(1)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    barrier.wait(WAIT_S)
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    store.close()
    results.put(len(done))
