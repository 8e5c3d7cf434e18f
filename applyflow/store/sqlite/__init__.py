"""``SQLiteStore``: the embedded default store (stdlib sqlite3, WAL, ``BEGIN IMMEDIATE``).

Every thread gets its own connection; atomic operations run in ``BEGIN IMMEDIATE``
transactions, which take SQLite's write lock up front, so they are atomic across threads
and processes. Datetimes are stored as integer microseconds (UTC) and money as integer
nano-dollars. One module per concern: ``_jobs``, ``_runs``, ``_ledger`` (usage and budget),
``_alerts`` (alerts and breakers), ``_stats``; ``_db`` holds connections and transactions,
``_schema`` the tables.
"""

from __future__ import annotations

from applyflow.store.base import Store
from applyflow.store.sqlite._alerts import SQLiteAlerts
from applyflow.store.sqlite._jobs import SQLiteJobs
from applyflow.store.sqlite._ledger import SQLiteLedger
from applyflow.store.sqlite._runs import SQLiteRuns
from applyflow.store.sqlite._schema import SCHEMA_VERSION
from applyflow.store.sqlite._stats import SQLiteStats

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]


class SQLiteStore(SQLiteJobs, SQLiteRuns, SQLiteLedger, SQLiteAlerts, SQLiteStats, Store):
    """The store in one SQLite file, safe for many threads and processes.

    ``SQLiteStore("sqlite:///.applyflow/applyflow.db")``; the folder is created on open.
    """
