"""The store contract: ``Store``, a lifecycle base plus one capability interface per concern.

    StoreBase   url, close, ping                          (this module)
    JobStore    postings, claims, layer outputs, statuses  (``store.jobs``)
    RunStore    pipeline runs and per-layer progress       (``store.runs``)
    LedgerStore usage, spend sums, budget reservations     (``store.ledger``)
    AlertStore  alerts and circuit-breaker states          (``store.alerts``)
    StatsStore  status counts and application stats       (``store.stats``)

``SQLiteStore`` and ``MongoStore`` implement ``Store`` with one module per concern; one
contract suite (``tests/store/``) runs against both. Code that needs one concern may ask for
its interface only. The docstrings of these interfaces are the specification.

Conventions every implementation keeps:
- Datetimes in and out are timezone-aware UTC. "now" is always passed in from Python.
- Updates are field-level (never read-modify-write of a whole job), so a user's ``mark`` and a
  pipeline's ``save_layer_output`` on the same job never lose each other's change.
- ``claim_jobs``, ``reserve`` and ``settle`` are atomic across processes (SQLite:
  ``BEGIN IMMEDIATE``; MongoDB: conditional ``find_one_and_update``).
- Money is integer nano-dollars inside the database (``applyflow.money``).
- Stats are computed by the database (SQL / aggregation pipelines over indexes), over bounds
  from ``applyflow.periods``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from applyflow.store.alerts import AlertStore
from applyflow.store.jobs import JobStore
from applyflow.store.ledger import LedgerStore
from applyflow.store.runs import RunStore
from applyflow.store.stats import StatsStore

__all__ = ["Store", "StoreBase"]


class StoreBase(ABC):
    """A connection to one database, named by its URL."""

    url: str

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abstractmethod
    def ping(self) -> float:
        """Round-trip to the database in milliseconds; ``StoreError`` if unreachable."""


class Store(StoreBase, JobStore, RunStore, LedgerStore, AlertStore, StatsStore):
    """Everything applyflow keeps: jobs, progress, runs, usage, budget, alerts, breakers."""
