"""Prefect: `applyflow setup` is idempotent, and guarded calls hold `llm-<provider>` slots."""

from __future__ import annotations

import json
import logging
import threading
import uuid

import pytest
from langchain_core.messages import HumanMessage
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.settings import get_settings
from flows.deployments import WORK_POOL, setup_prefect
from guards.call import CallContext, ModelGuard
from guards.concurrency import limit_name
from tests.guards._fakes import FakeChat
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _provider() -> str:
    """A provider name of its own: the harness (and its limits) live for the whole session."""
    return f"slot{uuid.uuid4().hex[:8]}"


def _free(provider: str) -> dict:
    return {f"{provider}:m": {"input": 0, "output": 0}}


def test_setup_command_is_idempotent(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from prefect.client.orchestration import get_client

    provider = _provider()
    monkeypatch.setenv("APPLYFLOW_STORE_URL", f"sqlite:///{tmp_path / 'a.db'}")
    monkeypatch.setenv("APPLYFLOW_MODEL", f"{provider}:m")
    monkeypatch.setenv("APPLYFLOW_MAX_PARALLEL_CALLS", json.dumps({provider: 3}))
    runner = CliRunner()

    def run() -> dict[str, dict]:
        get_settings.cache_clear()
        result = runner.invoke(app, ["setup", "--json"])
        assert result.exit_code == 0, result.output
        return {item["name"]: item for item in json.loads(result.stdout)}

    first = run()
    assert first[limit_name(provider)]["action"] == "created"
    assert first[limit_name(provider)]["size"] == 3
    second = run()
    assert {item["action"] for item in second.values()} == {"unchanged"}
    monkeypatch.setenv("APPLYFLOW_MAX_PARALLEL_CALLS", json.dumps({provider: 5}))
    assert run()[limit_name(provider)]["action"] == "updated"
    get_settings.cache_clear()
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(limit_name(provider)).limit == 5
        assert client.read_work_pool(WORK_POOL).type == "process"


def test_no_more_calls_overlap_than_the_limit(make_settings, sqlite_store) -> None:
    from prefect.client.orchestration import get_client

    from guards.slots import slot_client

    provider, calls = _provider(), 6
    settings = make_settings(prices=_free(provider), max_parallel_calls={provider: 2})
    setup_prefect(settings.model_copy(update={"model": f"{provider}:m"}))
    lock, permits = threading.Lock(), threading.Semaphore(0)
    seen = {"active": 0, "max": 0, "finished": 0}

    def inside_the_call() -> None:
        with lock:
            seen["active"] += 1
            seen["max"] = max(seen["max"], seen["active"])
        assert permits.acquire(timeout=120)
        with lock:
            seen["active"] -= 1

    fake = FakeChat(during=inside_the_call)
    guard = ModelGuard(settings, sqlite_store, model_factory=lambda m, t: fake)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            guard.call([HumanMessage("hi")], model=f"{provider}:m", max_tokens=5, ctx=CallContext())
        except BaseException as exc:  # reported below
            errors.append(exc)
        with lock:
            seen["finished"] += 1

    threads = [threading.Thread(target=worker) for _ in range(calls)]
    for t in threads:
        t.start()
    with get_client(sync_client=True) as client:

        def held() -> int:
            return client.read_global_concurrency_limit_by_name(limit_name(provider)).active_slots

        for done in range(calls):
            expected = min(2, calls - done)
            wait_until(
                lambda d=done, e=expected: seen["finished"] == d and seen["active"] == e,
                f"{expected} calls in flight after {done} finished",
                interval=0.01,
            )
            # The calls in flight each hold a Prefect slot (a finished one's release is sent
            # by the releaser thread, so it may land a moment later).
            wait_until(lambda e=expected: held() == e, f"{expected} slots held", interval=0.01)
            permits.release()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert seen["max"] == 2 and len(fake.calls) == calls
        slot_client().flush()
        assert held() == 0


def test_missing_limit_warns_once_with_the_fix(
    make_settings, sqlite_store, caplog: pytest.LogCaptureFixture
) -> None:
    provider = _provider()
    guard = ModelGuard(
        make_settings(prices=_free(provider)), sqlite_store, model_factory=lambda m, t: FakeChat()
    )
    with caplog.at_level(logging.WARNING, logger="applyflow"):
        for _ in range(3):
            guard.call([HumanMessage("hi")], model=f"{provider}:m", max_tokens=5, ctx=CallContext())
    fixes = [r.getMessage() for r in caplog.records if "applyflow setup" in r.getMessage()]
    assert len(fixes) == 1
    assert limit_name(provider) in fixes[0]
    assert sqlite_store.usage_total().calls == 3  # the calls still went ahead


def _counting_slots(client: object, **options: object) -> object:
    """A ``SlotClient`` on a real Prefect client that counts requests refused as "no slot
    free" (423)."""
    from guards.slots import SlotClient

    class Counting(SlotClient):
        refused = posts = 0

        def _post(self, path: str, body: dict) -> object:
            response = super()._post(path, body)
            type(self).posts += 1
            if response is not None and response.status_code == 423:
                type(self).refused += 1
            return response

    return Counting(client, **options)


def _new_limit(client, size: int) -> str:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    name = limit_name(_provider())
    client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=size))
    return name


def test_a_slot_is_held_until_given_back_and_a_second_taker_waits() -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        name = _new_limit(client, 1)
        slots = _counting_slots(client)

        def active() -> int:
            return client.read_global_concurrency_limit_by_name(name).active_slots

        first = slots.take(name, timeout_s=30)
        assert first is not None and active() == 1 and slots.held() == 1
        got: list[object] = []
        second_taker = threading.Thread(target=lambda: got.append(slots.take(name, timeout_s=60)))
        second_taker.start()
        wait_until(lambda: slots.refused >= 3, "the second taker refused three times")
        assert got == [] and active() == 1  # still waiting: the first holds the only slot
        slots.give_back(first)
        second_taker.join(60)
        [second] = got  # the first's lease taken over, or a new one once it was released
        assert second is not None
        assert active() == 1
        slots.give_back(second)
        slots.flush()  # giving back does not wait for the server
        assert active() == 0 and slots.held() == 0


def test_no_taker_waits_past_its_timeout() -> None:
    from prefect.client.orchestration import get_client

    from guards.slots import SlotClient

    with get_client(sync_client=True) as client:
        name = _new_limit(client, 1)
        slots = SlotClient(client)
        held = slots.take(name, timeout_s=30)
        with pytest.raises(TimeoutError, match=f"no '{name}' slot was free within 0.3 s"):
            slots.take(name, timeout_s=0.3)
        slots.give_back(held)
        slots.flush()
        assert client.read_global_concurrency_limit_by_name(name).active_slots == 0


def test_a_missing_limit_holds_nothing() -> None:
    from guards.slots import slot_client

    slots = slot_client()
    assert slots.take(limit_name(_provider()), timeout_s=5) is None
    assert slots.held() == 0


def test_slots_are_never_over_admitted_across_processes_and_threads() -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    from tests.guards._slot_workers import most_at_once, slot_worker
    from tests.multiproc import run_together

    size, processes, threads, rounds = 3, 3, 2, 4
    with get_client(sync_client=True) as client:
        name = _new_limit(client, size)
        api = str(PREFECT_API_URL.value())
        results = run_together(slot_worker, [(api, name, threads, rounds)] * processes)
        spans = [span for _, worker_spans in results for span in worker_spans]
        assert len(spans) == processes * threads * rounds  # every holder got every slot
        assert most_at_once(spans) <= size
        assert client.read_global_concurrency_limit_by_name(name).active_slots == 0


def test_long_held_leases_are_renewed_and_given_back_ones_are_not() -> None:
    import time

    from prefect.client.orchestration import get_client

    from guards.slots import MIN_LEASE_S, SlotClient

    with get_client(sync_client=True) as client:
        name = _new_limit(client, 2)
        slots = SlotClient(client)
        kept = slots.take(name, timeout_s=30, lease_s=MIN_LEASE_S)
        returned = slots.take(name, timeout_s=30, lease_s=MIN_LEASE_S)
        slots.give_back(returned)
        assert slots.renew_due(time.monotonic()) == 0  # just taken: not due yet
        later = time.monotonic() + MIN_LEASE_S / 3
        assert slots.renew_due(later) == 1  # the server accepted the renewal of the held one
        assert kept.renewed == later
        slots.give_back(kept)
        slots.flush()
        assert client.read_global_concurrency_limit_by_name(name).active_slots == 0


def test_a_slot_given_back_is_taken_over_before_its_release_is_sent() -> None:
    import time

    from prefect.client.orchestration import get_client

    from guards.slots import LINGER_S, MAX_REUSE

    with get_client(sync_client=True) as client:
        name = _new_limit(client, 1)
        slots = _counting_slots(client, background=False)  # releases wait for flush()
        first = slots.take(name, timeout_s=30)
        assert first is not None
        given_back = time.monotonic()
        slots.give_back(first)
        assert first.release_at >= given_back + LINGER_S  # kept a while for a taker here
        posts = slots.posts
        again = slots.take(name, timeout_s=30)
        assert again is first and again.reuses == 1 and slots.posts == posts  # no API call
        assert client.read_global_concurrency_limit_by_name(name).active_slots == 1
        for _ in range(MAX_REUSE - 1):
            slots.give_back(again)
            assert slots.take(name, timeout_s=30) is again
        assert again.reuses == MAX_REUSE and slots.posts == posts
        given_back = time.monotonic()
        slots.give_back(again)
        assert again.release_at <= time.monotonic()  # taken over often enough: due at once
        assert again.release_at >= given_back
        slots.flush()  # it goes back to the server
        assert client.read_global_concurrency_limit_by_name(name).active_slots == 0
        fresh = slots.take(name, timeout_s=30)
        assert fresh is not None and fresh.id != first.id and fresh.reuses == 0
        slots.give_back(fresh)
        slots.flush()
