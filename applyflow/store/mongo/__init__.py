"""``MongoStore``: pymongo, written for a real server and tested on mongomock.

Atomicity without multi-document transactions: each change that must happen once is a
single-document conditional write (``find_one_and_update`` filtered on the state it read).
"now" always comes from Python; stats are ``count_documents`` and aggregation pipelines over
indexed fields. One module per concern: ``_jobs``, ``_runs``, ``_ledger`` (usage and spend),
``_budget`` (the reservation protocol), ``_alerts`` (alerts and breakers), ``_stats``;
``_client`` holds the connection (timeouts, primary reads and majority writes pinned),
``indexes`` every index with the queries it serves, ``_codec`` the conversions.
"""

from __future__ import annotations

from applyflow.store.base import Store
from applyflow.store.mongo._alerts import MongoAlerts
from applyflow.store.mongo._client import (
    client_options,
    connection_errors,
    database_name,
    pinned_database,
)
from applyflow.store.mongo._jobs import MongoJobs
from applyflow.store.mongo._ledger import MongoLedger
from applyflow.store.mongo._runs import MongoRuns
from applyflow.store.mongo._stats import MongoStats

__all__ = ["MongoStore", "client_options", "database_name", "pinned_database"]


class MongoStore(MongoJobs, MongoRuns, MongoLedger, MongoAlerts, MongoStats, Store):
    """The store on MongoDB (``mongodb://`` / ``mongodb+srv://``); database from the URL path.

    ``MongoStore(url, client=mongomock.MongoClient())`` in tests; ``drop_on_close=True`` for
    a throwaway database on a real server. ``client_options(url)`` are the options of the
    client it makes (the rate guard's MongoDB storage uses them too); ``pinned_database`` is
    how it takes its database from any client: primary reads and majority writes.
    """


# Every operation of the contract gets the same translation of a lost server.
for _name in sorted(Store.__abstractmethods__ | {"upsert_jobs"}):
    setattr(MongoStore, _name, connection_errors(getattr(MongoStore, _name)))
