"""The store contract suite: one test module per interface of ``applyflow.store``.

Every test runs on each implementation (the ``store`` fixture in ``tests/conftest.py``: sqlite,
mongomock, and a real MongoDB when ``APPLYFLOW_TEST_MONGODB_URI`` is set):

    test_contract.py         StoreBase (this module)
    test_contract_jobs.py    JobStore
    test_contract_tracking.py  JobStore across sources and after applying (history, follow-ups)
    test_contract_runs.py    RunStore
    test_contract_ledger.py  LedgerStore
    test_contract_alerts.py  AlertStore
    test_contract_stats.py   StatsStore

What only one implementation has is in ``test_sqlite.py`` and ``test_mongo_store.py``.
"""

from __future__ import annotations

from applyflow.store import Store


class TestHealth:
    def test_ping_reports_latency_in_ms(self, store: Store) -> None:
        latency = store.ping()
        assert isinstance(latency, float) and latency >= 0
