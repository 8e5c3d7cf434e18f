"""The store: one contract (``Store``), two implementations, picked by URL scheme.

open_store("sqlite:///.applyflow/applyflow.db")   -> SQLiteStore
open_store("mongodb://localhost:27017/applyflow") -> MongoStore

``Store`` is ``StoreBase`` (url, close, ping) plus one capability interface per concern:
``JobStore``, ``RunStore``, ``LedgerStore``, ``AlertStore`` and ``StatsStore``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from applyflow.errors import StoreError
from applyflow.store.alerts import AlertStore
from applyflow.store.base import Store, StoreBase
from applyflow.store.jobs import JobStore
from applyflow.store.ledger import LedgerStore
from applyflow.store.runs import RunStore
from applyflow.store.stats import StatsStore

if TYPE_CHECKING:
    from applyflow.settings import Settings

__all__ = [
    "SCHEMES",
    "AlertStore",
    "JobStore",
    "LedgerStore",
    "RunStore",
    "StatsStore",
    "Store",
    "StoreBase",
    "open_store",
]


def _sqlite(url: str) -> Store:
    from applyflow.store.sqlite import SQLiteStore

    return SQLiteStore(url)


def _mongo(url: str) -> Store:
    from applyflow.store.mongo import MongoStore

    return MongoStore(url)


# Registry keyed by URL scheme, as `limits` does for its storages.
SCHEMES = {"sqlite": _sqlite, "mongodb": _mongo, "mongodb+srv": _mongo}


def open_store(target: Settings | str) -> Store:
    """Open the store named by a settings object or a URL."""
    url = target if isinstance(target, str) else target.store_url
    scheme = url.split(":", 1)[0]
    try:
        factory = SCHEMES[scheme]
    except KeyError:
        raise StoreError(
            f"unsupported store URL scheme {scheme!r}; use one of {sorted(SCHEMES)}"
        ) from None
    return factory(url)
