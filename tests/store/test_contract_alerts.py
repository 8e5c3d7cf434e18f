"""The store contract, ``AlertStore``: alerts deduplicated by key, breaker states."""

from __future__ import annotations

from datetime import datetime, timedelta

from applyflow.models import Alert, BreakerState
from applyflow.store import Store
from tests.factories import NOW

LATER = NOW + timedelta(minutes=5)


class TestAlerts:
    def _alert(self, key: str, at: datetime) -> Alert:
        return Alert(key=key, kind="budget", message=f"{key} at 80%", at=at)

    def test_same_key_is_stored_once_per_window(self, store: Store) -> None:
        assert store.record_alert(self._alert("day:d", NOW), dedup_s=3600) is True
        assert store.record_alert(self._alert("day:d", NOW + timedelta(minutes=59)), 3600) is False
        assert store.record_alert(self._alert("month:m", NOW), 3600) is True
        assert store.record_alert(self._alert("day:d", NOW + timedelta(minutes=61)), 3600) is True
        assert [a.key for a in store.list_alerts()] == ["day:d", "month:m", "day:d"]

    def test_list_is_newest_first_with_since_and_limit(self, store: Store) -> None:
        for minute in (0, 10, 20):
            store.record_alert(self._alert(f"k{minute}", NOW + timedelta(minutes=minute)), 60)
        assert [a.key for a in store.list_alerts(limit=2)] == ["k20", "k10"]
        assert [a.key for a in store.list_alerts(since=NOW + timedelta(minutes=5))] == [
            "k20",
            "k10",
        ]
        (newest, *_) = store.list_alerts()
        assert newest == self._alert("k20", NOW + timedelta(minutes=20))

    def test_counts_per_kind(self, store: Store) -> None:
        assert store.alert_counts() == {}
        for key, kind in (("a", "budget"), ("b", "budget"), ("c", "breaker_open")):
            store.record_alert(Alert(key=key, kind=kind, message="m", at=NOW), 60)
        store.record_alert(Alert(key="a", kind="budget", message="m", at=NOW), 60)  # deduped
        assert store.alert_counts() == {"breaker_open": 1, "budget": 2}


class TestBreakers:
    def test_one_state_per_provider_replaced_on_save(self, store: Store) -> None:
        store.save_breaker_state(BreakerState(provider="openai", state="closed", updated_at=NOW))
        opened = BreakerState(
            provider="openai", state="open", fail_count=5, opened_at=LATER, updated_at=LATER
        )
        store.save_breaker_state(opened)
        store.save_breaker_state(BreakerState(provider="ollama", state="closed", updated_at=NOW))
        states = {b.provider: b for b in store.breaker_states()}
        assert states["openai"] == opened
        assert set(states) == {"openai", "ollama"}
