"""A run shows where its calls wait: the guarded call marks waits, the run writes lasting ones."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from langchain_core.messages import HumanMessage

from applyflow.models import Run, RunWait, utcnow
from applyflow.store import Store
from guards.call import CallContext, ModelGuard
from tasks.run import RunContext
from tasks.waits import RunWaits, _Wait, due
from tests.guards._fakes import Factory, FakeChat
from tests.waiting import wait_until

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


class _CountingStore:
    """A store that records every ``set_run_waiting`` it is asked for."""

    def __init__(self, store: Store) -> None:
        self.store, self.writes = store, []

    def set_run_waiting(self, run_id: str, waiting: RunWait | None) -> bool:
        self.writes.append(waiting)
        return self.store.set_run_waiting(run_id, waiting)


def test_due_is_the_oldest_wait_past_the_delay() -> None:
    old = _Wait("rate", "openai", T0, began=10.0)
    young = _Wait("slot", "openai", T0 + timedelta(seconds=5), began=15.0)
    assert due([young, old], now=10.5, after_s=1.0) is None
    assert due([young, old], now=11.0, after_s=1.0) == old
    assert due([young], now=15.9, after_s=1.0) is None
    assert due([young, old], now=20.0, after_s=1.0) == old


def test_a_lasting_wait_is_written_and_cleared(sqlite_store: Store) -> None:
    sqlite_store.save_run(Run(id="r1", started_at=T0))
    waits = RunWaits("r1", sqlite_store, clock=lambda: T0, after_s=0.05)
    release = threading.Event()

    def call() -> None:
        with waits.waiting("slot", "openai"):
            release.wait(timeout=30)

    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(call)
        shown = wait_until(lambda: sqlite_store.get_run("r1").waiting, "the wait to be recorded")
        assert shown == RunWait(kind="slot", since=T0, detail="openai")
        release.set()
        done.result()
    wait_until(lambda: sqlite_store.get_run("r1").waiting is None, "the wait to be cleared")


def test_a_short_wait_is_never_written(sqlite_store: Store) -> None:
    sqlite_store.save_run(Run(id="r1", started_at=T0))
    counting = _CountingStore(sqlite_store)
    # The monotonic clock stands still: no wait ever lasts the delay.
    waits = RunWaits("r1", counting, clock=lambda: T0, after_s=0.5, monotonic=lambda: 100.0)
    for _ in range(3):
        with waits.waiting("slot", "openai"):
            writer = waits._writer
    assert writer is not None
    writer.join(timeout=30)
    assert not writer.is_alive(), "the writer ends once nothing waits"
    assert counting.writes == []
    assert sqlite_store.get_run("r1").waiting is None


def test_a_call_waiting_on_a_full_rate_window_shows_on_its_run(
    make_settings, sqlite_store: Store
) -> None:
    settings = make_settings(rate_limits={"fakeai": "1/3 seconds"}, rate_max_wait_s=30)
    guard = ModelGuard(
        settings, sqlite_store, model_factory=Factory(default=FakeChat()), prefect_slots=False
    )
    ctx = RunContext(run_id="r1", settings=settings, store=sqlite_store, guard=guard, profile="")
    guard.waits = ctx.waiting  # as flows/pipeline.py wires it
    sqlite_store.save_run(Run(id="r1", started_at=utcnow()))
    prompt = [HumanMessage("hello")]
    call = CallContext(run_id="r1", job_id="j1", layer="extract")
    guard.call(prompt, model="fakeai:small", max_tokens=10, ctx=call)  # takes the window
    before = utcnow()
    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(guard.call, prompt, model="fakeai:small", max_tokens=10, ctx=call)
        shown = wait_until(
            lambda: sqlite_store.get_run("r1").waiting or second.done(), "the rate wait"
        )
        assert isinstance(shown, RunWait), "the second call waited without being shown"
        assert (shown.kind, shown.detail) == ("rate", "fakeai")
        assert before <= shown.since <= utcnow()
        assert second.result().text == "ok"
    wait_until(lambda: sqlite_store.get_run("r1").waiting is None, "the wait to be cleared")
