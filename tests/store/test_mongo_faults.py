"""The MongoDB budget protocol cut short between any two of its writes (``tests/store/_faults``).

Each operation runs once to count its writes; then, for every write k, on a fresh store, the
same operation is stopped just before write k (a killed process) or right after it (the server
applied it, the reply was lost). Then either the sweep runs past every lease, or the caller
retries, and the counters must be exact: ``reserved`` back to 0 with no hold left, ``spent``
equal to the usage rows, and the settle either wholly applied or not at all. Runs on mongomock,
and unchanged on a real server with ``APPLYFLOW_TEST_MONGODB_URI``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import mongomock
import pytest

from applyflow.errors import StoreError
from applyflow.models import UsageRecord
from applyflow.money import to_nanos
from applyflow.store.mongo import MongoStore
from tests.mongo_server import MONGO_URI
from tests.store._faults import Faults, FaultyClient, Mode

pytestmark = pytest.mark.mongo

KINDS = ["mongomock"] + (["mongodb"] if MONGO_URI else [])
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
LEASE_S = 60
SETTLE_STEP_S = 60  # applyflow/store/mongo/_budget.py: a settle's step lease
AFTER_EVERY_LEASE = NOW + timedelta(days=1)
CAPS = {"total": 1.0, "month:2026-03": 1.0, "run:r": 0.5}
EXTRA = "job:j"  # settled on but never reserved: its counter is made by the settle
RESERVED, ACTUAL = 0.4, 0.3
MODES: list[Mode] = ["before", "after"]


@contextmanager
def faulty_store(kind: str) -> Iterator[tuple[MongoStore, Faults]]:
    faults = Faults()
    if kind == "mongomock":
        inner = mongomock.MongoClient()
        url = "mongodb://mongomock.test/applyflow_test"
    else:
        from tests.mongo_server import fresh_store, session_client, session_url

        fresh_store().close()  # empties the session database
        inner, url = session_client(), session_url()
    store = MongoStore(url, client=FaultyClient(inner, faults))
    try:
        yield store, faults
    finally:
        store.close()


def usage(call_id: str = "c") -> UsageRecord:
    return UsageRecord(
        call_id=call_id, run_id="r", job_id="j", provider="openai", model="m",
        input_tokens=10, output_tokens=5, cost_usd=ACTUAL, at=NOW,
    )  # fmt: skip


@dataclass(frozen=True)
class Step:
    """An operation to cut short: what runs before it, it, and what it leaves when whole."""

    name: str
    setup: Callable[[MongoStore], None]
    run: Callable[[MongoStore], object]
    spends: bool  # a completed run adds ACTUAL to every settled scope and one usage row


def _reserve(store: MongoStore) -> None:
    store.reserve("c", CAPS, RESERVED, NOW, LEASE_S)


def _expire(store: MongoStore) -> None:
    store.expire_reservations(NOW + timedelta(seconds=LEASE_S + 1))


def _settle(store: MongoStore) -> None:
    store.settle("c", [*CAPS, EXTRA], ACTUAL, NOW, usage())


def _late_settle(store: MongoStore) -> None:  # the lease ran out before the reply came
    store.settle("c", [*CAPS, EXTRA], ACTUAL, NOW + timedelta(seconds=LEASE_S + 2), usage())


STEPS = [
    Step("reserve", lambda s: None, _reserve, spends=False),
    Step("settle", _reserve, _settle, spends=True),
    Step("late settle", lambda s: (_reserve(s), _expire(s)), _late_settle, spends=True),
    Step("release", _reserve, lambda s: s.release("c"), spends=False),
    Step("sweep", _reserve, _expire, spends=False),
]
SCOPES = [*CAPS, EXTRA]


def count_writes(kind: str, step: Step) -> list[str]:
    with faulty_store(kind) as (store, faults):
        step.setup(store)
        faults.arm(None)
        step.run(store)
        return list(faults.writes)


def counters(store: MongoStore) -> dict[str, dict]:
    return {
        doc["_id"]: {k: doc.get(k) for k in ("spent", "reserved", "holds", "applied")}
        for doc in store._db.budget.find()
    }


def assert_exact(store: MongoStore, *, spent: bool, where: str) -> None:
    """Nothing held; spend on every settled scope exactly once, or nowhere; the ledger agrees."""
    want = to_nanos(ACTUAL) if spent else 0
    raw = counters(store)
    for scope in SCOPES:
        doc = raw.get(scope, {"spent": 0, "reserved": 0, "holds": [], "applied": []})
        assert (doc["spent"], doc["reserved"], doc["holds"]) == (want, 0, []), (where, raw)
    rows = store.usage_total()
    assert (rows.calls, to_nanos(rows.cost_usd)) == ((1, want) if spent else (0, 0)), where
    assert store.open_reservations(AFTER_EVERY_LEASE) == 0, where
    states = store.scope_states(SCOPES, AFTER_EVERY_LEASE)
    assert {s.reserved for s in states.values()} == {0.0}, where


def assert_view_matches_counters(store: MongoStore, where: str) -> None:
    """What scope_states shows is what reserve checks: the counters' own holds."""
    raw = counters(store)
    states = store.scope_states(SCOPES, NOW)
    for scope in SCOPES:
        doc = raw.get(scope, {"reserved": 0, "holds": []})
        held = sum(hold["n"] for hold in doc["holds"])
        assert doc["reserved"] == held == to_nanos(states[scope].reserved), (where, raw)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_cut_short_at_any_write_then_a_sweep_restores_exact_counters(
    kind: str, step: Step, mode: Mode
) -> None:
    writes = count_writes(kind, step)
    assert len(writes) >= 2, writes  # something to cut between
    for k, name in enumerate(writes):
        where = f"{step.name} cut {mode} write {k} ({name}) of {writes}"
        with faulty_store(kind) as (store, faults):
            step.setup(store)
            faults.arm(k, mode)
            with pytest.raises(StoreError, match="injected"):
                step.run(store)
            faults.arm(None)
            assert_view_matches_counters(store, where)
            store.expire_reservations(AFTER_EVERY_LEASE)
            # A settle that recorded itself (its first write landed) is finished by the sweep.
            began = k > 0 or mode == "after"
            assert_exact(store, spent=step.spends and began, where=where)
            # Settle markers outlive their settle step (a stalled settle resuming finds them),
            # then a later sweep drops them: nothing piles up on the counters.
            store.expire_reservations(AFTER_EVERY_LEASE + timedelta(seconds=2 * SETTLE_STEP_S))
            assert {s: c["applied"] for s, c in counters(store).items()} == {
                s: [] for s in counters(store)
            }, where


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("step", [s for s in STEPS if s.name != "reserve"], ids=lambda s: s.name)
def test_cut_short_at_any_write_then_a_retry_completes_it_once(
    kind: str, step: Step, mode: Mode
) -> None:
    writes = count_writes(kind, step)
    for k, name in enumerate(writes):
        where = f"{step.name} cut {mode} write {k} ({name}) of {writes}"
        with faulty_store(kind) as (store, faults):
            step.setup(store)
            faults.arm(k, mode)
            with pytest.raises(StoreError, match="injected"):
                step.run(store)
            faults.arm(None)
            step.run(store)  # the caller tries again (same arguments, same moment)
            step.run(store)  # and once more: a no-op
            if step.name == "sweep":
                _expire(store)
            else:
                assert store.open_reservations(NOW) == 0, where
            store.expire_reservations(AFTER_EVERY_LEASE)
            assert_exact(store, spent=step.spends, where=where)


def test_a_reservation_cut_short_holds_only_what_it_raised_until_its_lease_ends(kind: str) -> None:
    writes = count_writes(kind, STEPS[0])
    # The last conditional write on a counter is the hold on the last scope (run:r).
    last_hold = max(k for k, name in enumerate(writes) if name == "budget.find_one_and_update")
    with faulty_store(kind) as (store, faults):
        faults.arm(last_hold, "before")  # dies before holding its last scope
        with pytest.raises(StoreError):
            _reserve(store)
        faults.arm(None)
        states = store.scope_states(SCOPES, NOW)
        assert [to_nanos(states[s].reserved) for s in CAPS] == [to_nanos(RESERVED)] * 2 + [0]
        # Within its lease the partial hold still counts against the cap, as reserve sees it:
        with pytest.raises(Exception, match="budget exceeded"):
            store.reserve("other", {"total": 1.0}, 0.7, NOW, LEASE_S)
        store.reserve("other", {"total": 1.0}, 0.7, NOW + timedelta(seconds=LEASE_S + 1), 60)
        later = store.scope_states(["total"], NOW + timedelta(seconds=LEASE_S + 1))["total"]
        assert to_nanos(later.reserved) == to_nanos(0.7)  # the dead hold is gone, only "other"


@pytest.mark.parametrize("mode", MODES)
def test_an_alert_cut_short_is_never_lost_and_still_deduplicates(kind: str, mode: Mode) -> None:
    from applyflow.models import Alert

    first = Alert(key="budget:day", kind="budget", message="80% of the day's cap", at=NOW)
    again = first.model_copy(update={"message": "still 80%", "at": NOW + timedelta(minutes=5)})
    later = first.model_copy(update={"message": "next day", "at": NOW + timedelta(hours=2)})
    with faulty_store(kind) as (store, faults):
        faults.arm(None)
        store.record_alert(first, dedup_s=3600)
        writes = list(faults.writes)
    assert len(writes) >= 2, writes
    for k, name in enumerate(writes):
        where = f"record_alert cut {mode} write {k} ({name}) of {writes}"
        with faulty_store(kind) as (store, faults):
            faults.arm(k, mode)
            with pytest.raises(StoreError, match="injected"):
                store.record_alert(first, dedup_s=3600)
            faults.arm(None)
            recorded = k > 0 or mode == "after"  # the key's marker moved: the alert is kept
            if not recorded:
                assert store.record_alert(first, dedup_s=3600) is True, where  # a retry
            assert [a.message for a in store.list_alerts()] == [first.message], where
            assert store.record_alert(again, dedup_s=3600) is False, where  # within the hour
            assert store.record_alert(later, dedup_s=3600) is True, where
            assert [a.message for a in store.list_alerts()] == [later.message, first.message]
