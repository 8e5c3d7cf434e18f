"""The store contract, ``LedgerStore``: usage ledger, spend sums and series, budget reservations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from applyflow.errors import BudgetExceeded, StoreError
from applyflow.models import TOKEN_CLASSES
from applyflow.store import Store
from tests.factories import NOW, make_usage

UTC_ZONE = ZoneInfo("UTC")
LA = ZoneInfo("America/Los_Angeles")
LATER = NOW + timedelta(minutes=5)


class TestUsage:
    def test_a_call_is_recorded_once(self, store: Store) -> None:
        record = make_usage(cost_usd=0.5)
        assert store.record_usage(record) is True
        assert store.record_usage(record.model_copy(update={"cost_usd": 9.0})) is False
        total = store.usage_total()
        assert (total.key, total.calls, total.input_tokens, total.output_tokens) == (
            None,
            1,
            100,
            50,
        )
        assert total.cost_usd == pytest.approx(0.5)

    def test_totals_filter_by_run_job_and_time(self, store: Store) -> None:
        store.record_usage(make_usage(run_id="a", job_id="j1", cost_usd=0.1, at=NOW))
        store.record_usage(make_usage(run_id="a", job_id="j2", cost_usd=0.2, at=LATER))
        store.record_usage(make_usage(run_id="b", job_id="j1", cost_usd=0.4, at=LATER))
        assert store.usage_total(run_id="a").cost_usd == pytest.approx(0.3)
        assert store.usage_total(job_id="j1").cost_usd == pytest.approx(0.5)
        assert store.usage_total(run_id="a", job_id="j1").calls == 1
        assert store.usage_total(since=LATER).cost_usd == pytest.approx(0.6)
        assert store.usage_total(until=LATER).cost_usd == pytest.approx(0.1)  # until exclusive
        empty = store.usage_total(run_id="none")
        assert (empty.calls, empty.input_tokens, empty.cost_usd) == (0, 0, 0)

    @pytest.mark.parametrize("field", ["provider", "model", "layer", "job_id", "run_id"])
    def test_spend_by_groups_most_expensive_first(self, store: Store, field: str) -> None:
        store.record_usage(make_usage(**{field: "cheap"}, cost_usd=0.01))
        store.record_usage(make_usage(**{field: "dear"}, cost_usd=0.30))
        store.record_usage(make_usage(**{field: "dear"}, cost_usd=0.20, input_tokens=7))
        groups = store.spend_by(field)
        assert [(g.key, g.calls, g.input_tokens) for g in groups] == [
            ("dear", 2, 107), ("cheap", 1, 100),
        ]  # fmt: skip
        assert [g.cost_usd for g in groups] == pytest.approx([0.5, 0.01])
        assert [g.key for g in store.spend_by(field, limit=1)] == ["dear"]

    def test_usage_totals_count_each_call_once_per_provider_model_and_layer(
        self, store: Store
    ) -> None:
        assert store.usage_totals() == []
        first = make_usage(layer="score", cost_usd=0.25, input_tokens=10, output_tokens=5)
        store.record_usage(first)
        store.record_usage(first.model_copy(update={"cost_usd": 9.0}))  # same call: not again
        store.record_usage(make_usage(layer="score", cost_usd=0.5, input_tokens=1, at=LATER))
        store.record_usage(make_usage(layer=None, model="gpt-4o", cost_usd=0.125))
        store.record_usage(make_usage(provider="anthropic", model="claude", cost_usd=1.0))
        # Settled calls count too (the ledger writes their usage row).
        store.reserve("r1", {"total": None}, 0.2, NOW, 60)
        store.settle("r1", ["total"], 0.0625, NOW, make_usage(call_id="r1", cost_usd=0.0625))
        rows = [
            (t.provider, t.model, t.layer, t.calls, t.input_tokens, t.output_tokens, t.cost_usd)
            for t in store.usage_totals()
        ]
        assert rows == [
            ("anthropic", "claude", "score", 1, 100, 50, 1.0),
            ("openai", "gpt-4o", None, 1, 100, 50, 0.125),
            ("openai", "gpt-4o-mini", "score", 3, 111, 105, 0.8125),
        ]
        # They agree with the sums over the rows.
        assert sum(t.cost_usd for t in store.usage_totals()) == store.usage_total().cost_usd

    def test_token_classes_are_kept_and_summed_like_the_totals(self, store: Store) -> None:
        classes = {
            "cache_read_tokens": 3840, "cache_write_tokens": 600, "cache_write_1h_tokens": 200,
            "input_audio_tokens": 30, "output_reasoning_tokens": 448, "output_audio_tokens": 7,
        }  # fmt: skip
        store.record_usage(make_usage(input_tokens=5000, output_tokens=900, **classes))
        # A settled call's row keeps them too; a row without them counts 0.
        store.reserve("r1", {"total": None}, 0.2, NOW, 60)
        settled = make_usage(call_id="r1", input_tokens=4000, output_tokens=500, **classes)
        store.settle("r1", ["total"], 0.01, NOW, settled)
        store.record_usage(make_usage(provider="anthropic", model="claude"))
        doubled = {name: 2 * n for name, n in classes.items()}
        total = store.usage_total()
        assert {name: getattr(total, name) for name in TOKEN_CLASSES} == doubled
        by_provider = {g.key: g for g in store.spend_by("provider")}
        assert {n: getattr(by_provider["openai"], n) for n in TOKEN_CLASSES} == doubled
        assert all(getattr(by_provider["anthropic"], n) == 0 for n in TOKEN_CLASSES)
        rollup = {t.provider: t for t in store.usage_totals()}["openai"]
        assert {n: getattr(rollup, n) for n in TOKEN_CLASSES} == doubled
        assert (rollup.input_tokens, rollup.output_tokens) == (9000, 1400)

    def test_spend_by_since_skips_older_calls(self, store: Store) -> None:
        store.record_usage(make_usage(provider="old", at=NOW - timedelta(days=2)))
        store.record_usage(make_usage(provider="new", at=NOW))
        assert [g.key for g in store.spend_by("provider", since=NOW - timedelta(days=1))] == ["new"]

    def test_unknown_grouping_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="cannot group spend by 'cost'; use one of"):
            store.spend_by("cost")  # type: ignore[arg-type]


class TestSpendSeries:
    def test_hour_buckets_are_contiguous_with_zeros(self, store: Store) -> None:
        day = datetime(2026, 3, 18, tzinfo=UTC)
        for at, cost in ((10, 0.1), (10.99, 0.2), (12, 0.4), (14, 5.0)):
            store.record_usage(make_usage(cost_usd=cost, at=day + timedelta(hours=at)))
        series = store.spend_series(
            "hour", day + timedelta(hours=10.25), day + timedelta(hours=13.1), UTC_ZONE
        )
        assert [b.start for b in series] == [day + timedelta(hours=h) for h in (10, 11, 12, 13)]
        assert [b.calls for b in series] == [2, 0, 1, 0]
        assert [b.cost_usd for b in series] == pytest.approx([0.3, 0, 0.4, 0])

    def test_day_buckets_are_whole_local_days_across_dst(self, store: Store) -> None:
        # Los Angeles: Sunday 2026-03-08 has 23 hours (PST -> PDT at 02:00 local).
        mar7, mar8, mar9 = (
            datetime(2026, 3, d, h, tzinfo=UTC) for d, h in ((7, 8), (8, 8), (9, 7))
        )
        for at, cost in (
            (mar7 - timedelta(seconds=1), 9.0),  # Mar 6 local: before the first bucket
            (mar7, 0.1),  # first local second of Mar 7, before `since`: the bucket is whole
            (mar9 - timedelta(seconds=1), 0.2),  # Mar 8, 23:59:59 PDT
            (mar9, 0.4),  # Mar 9, 00:00 PDT
        ):
            store.record_usage(make_usage(cost_usd=cost, at=at))
        series = store.spend_series("day", mar7 + timedelta(hours=5), mar9 + timedelta(hours=1), LA)
        assert [b.start for b in series] == [mar7, mar8, mar9]
        assert [b.calls for b in series] == [1, 1, 1]
        assert [b.cost_usd for b in series] == pytest.approx([0.1, 0.2, 0.4])

    def test_unknown_bucket_is_refused_and_a_backward_span_is_empty(self, store: Store) -> None:
        with pytest.raises(ValueError, match="spend bucket must be 'hour' or 'day', not 'week'"):
            store.spend_series("week", NOW, LATER, UTC_ZONE)  # type: ignore[arg-type]
        earlier = NOW - timedelta(days=2)
        assert store.spend_series("day", NOW, earlier, UTC_ZONE) == []
        assert store.spend_series("hour", NOW, earlier, UTC_ZONE) == []


class TestBudget:
    def test_reservation_holds_on_every_scope(self, store: Store) -> None:
        store.reserve("r1", {"total": 1.0, "day:d": None}, 0.25, NOW, 60)
        states = store.scope_states(["total", "day:d", "never"], NOW)
        assert {k: (s.spent, s.reserved) for k, s in states.items()} == {
            "total": (0, 0.25), "day:d": (0, 0.25), "never": (0, 0),
        }  # fmt: skip
        assert store.open_reservations(NOW) == 1

    def test_over_cap_refuses_all_scopes_naming_the_first(self, store: Store) -> None:
        store.reserve("r1", {"total": 10.0, "day:d": 1.0}, 0.75, NOW, 60)
        with pytest.raises(BudgetExceeded) as refused:
            store.reserve("r2", {"total": 10.0, "day:d": 1.0}, 0.5, NOW, 60)
        err = refused.value
        assert (err.scope, err.cap, err.needed) == ("day:d", 1.0, 0.5)
        assert (err.spent, err.reserved) == pytest.approx((0, 0.75))
        assert "day budget exceeded" in str(err)
        states = store.scope_states(["total", "day:d"], NOW)
        assert [states[s].reserved for s in ("total", "day:d")] == pytest.approx([0.75, 0.75])
        assert store.open_reservations(NOW) == 1
        store.release("r1")
        store.reserve("r2", {"total": 10.0, "day:d": 1.0}, 0.5, NOW, 60)  # refused id: no trace

    def test_amounts_that_sum_exactly_to_the_cap_fit(self, store: Store) -> None:
        for i in range(3):  # 0.1 + 0.1 + 0.1 > 0.3 in binary floating point
            store.reserve(f"r{i}", {"total": 0.3}, 0.1, NOW, 60)
        with pytest.raises(BudgetExceeded):
            store.reserve("r3", {"total": 0.3}, 0.000001, NOW, 60)

    def test_no_cap_and_enforce_false_always_reserve(self, store: Store) -> None:
        store.reserve("r1", {"total": None}, 1000.0, NOW, 60)
        store.reserve("r2", {"day:d": 0.1}, 5.0, NOW, 60, enforce=False)
        states = store.scope_states(["total", "day:d"], NOW)
        assert (states["total"].reserved, states["day:d"].reserved) == pytest.approx((1000, 5))

    def test_settle_replaces_reservation_with_actual_once(self, store: Store) -> None:
        scopes = ["total", "run:r"]
        store.reserve("r1", dict.fromkeys(scopes, 1.0), 0.5, NOW, 60)
        usage = make_usage(call_id="call-r1", cost_usd=0.2)
        store.settle("r1", scopes, 0.2, NOW, usage)
        store.settle("r1", scopes, 0.2, NOW, usage)
        states = store.scope_states(scopes, NOW)
        flat = [v for s in scopes for v in (states[s].spent, states[s].reserved)]
        assert flat == pytest.approx([0.2, 0, 0.2, 0])
        assert store.usage_total().calls == 1
        assert store.open_reservations(NOW) == 0
        store.reserve("r2", {"total": 1.0}, 0.8, NOW, 60)  # 0.2 spent + 0.8 fits exactly
        with pytest.raises(BudgetExceeded):
            store.reserve("r3", {"total": 1.0}, 0.01, NOW, 60)

    def test_release_frees_without_spending(self, store: Store) -> None:
        store.reserve("r1", {"total": 1.0}, 0.9, NOW, 60)
        store.release("r1")
        assert store.scope_states(["total"], NOW)["total"].model_dump() == {
            "scope": "total", "spent": 0, "reserved": 0,
        }  # fmt: skip
        store.reserve("r2", {"total": 1.0}, 1.0, NOW, 60)

    def test_crashed_holder_reservation_expires_after_its_lease(self, store: Store) -> None:
        store.reserve("dead", {"total": 1.0}, 0.9, NOW, 30)
        with pytest.raises(BudgetExceeded):
            store.reserve("early", {"total": 1.0}, 0.5, NOW + timedelta(seconds=29), 30)
        after = NOW + timedelta(seconds=31)
        assert store.open_reservations(after) == 0
        assert store.scope_states(["total"], after)["total"].reserved == 0
        store.reserve("late", {"total": 1.0}, 0.5, after, 30)
        assert store.open_reservations(after) == 1

    def test_expire_reservations_counts_the_dropped(self, store: Store) -> None:
        store.reserve("a", {"total": None, "day:d": None}, 0.1, NOW, 10)
        store.reserve("b", {"total": None}, 0.1, NOW, 10)
        store.reserve("c", {"total": None}, 0.1, NOW, 600)
        assert store.expire_reservations(NOW + timedelta(seconds=11)) == 2
        assert store.expire_reservations(NOW + timedelta(seconds=11)) == 0
        assert store.open_reservations(NOW + timedelta(seconds=11)) == 1

    def test_settle_after_expiry_still_counts_the_spend(self, store: Store) -> None:
        store.reserve("r1", {"total": 1.0}, 0.3, NOW, 10)
        late = NOW + timedelta(seconds=60)
        store.expire_reservations(late)
        store.settle("r1", ["total"], 0.25, late)
        state = store.scope_states(["total"], late)["total"]
        assert (state.spent, state.reserved) == pytest.approx((0.25, 0))

    def test_negative_amount_is_refused(self, store: Store) -> None:
        with pytest.raises(ValueError, match="amount"):
            store.reserve("r1", {"total": 1.0}, -0.5, NOW, 60)

    def test_negative_actual_is_refused_and_the_reservation_kept(self, store: Store) -> None:
        store.reserve("r1", {"total": 1.0}, 0.5, NOW, 60)
        with pytest.raises(ValueError, match="'r1': actual must be >= 0, got -0.1"):
            store.settle("r1", ["total"], -0.1, NOW)
        state = store.scope_states(["total"], NOW)["total"]
        assert (state.spent, state.reserved) == pytest.approx((0, 0.5))

    def test_an_id_held_or_settled_is_in_use(self, store: Store) -> None:
        store.reserve("r1", {"total": None}, 0.1, NOW, 60)
        with pytest.raises(StoreError, match="reservation id 'r1' is already in use"):
            store.reserve("r1", {"total": None}, 0.1, NOW, 60)
        assert store.scope_states(["total"], NOW)["total"].reserved == pytest.approx(0.1)
        store.settle("r1", ["total"], 0.1, NOW)
        with pytest.raises(StoreError, match="already in use"):
            store.reserve("r1", {"total": None}, 0.1, NOW, 60)
        state = store.scope_states(["total"], NOW)["total"]
        assert (state.spent, state.reserved) == pytest.approx((0.1, 0))
