"""The MongoDB connection shared by every part of ``MongoStore``: URL, database, indexes.

Errors never show a password: ``masked`` hides it in pymongo's messages, and every contract
operation turns a lost server into ``StoreError`` (``connection_errors``).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pymongo
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure, PyMongoError

from applyflow.errors import StoreError
from applyflow.settings import MASK, mask_url
from applyflow.store.base import StoreBase
from applyflow.store.mongo._postings import backfill
from applyflow.store.mongo._rollups import build_rollups

# Closed reservations are kept a week (a late settle stays idempotent), then the server's TTL
# monitor drops them. `closed_at` is wall-clock time because TTL runs on the server's clock.
CLOSED_RESERVATION_TTL_S = 7 * 24 * 3600


def database_name(url: str) -> str:
    """The database named by the URL path, ``applyflow`` when there is none."""
    name = unquote(urlsplit(url).path.lstrip("/")) or "applyflow"
    if re.search(r"[/\\. \"$]", name) or len(name) > 63:
        raise StoreError(f"invalid MongoDB database name {name!r} in {mask_url(url)}")
    return name


def masked(url: str, exc: BaseException) -> str:
    """The exception text with the URL's password hidden."""
    text = str(exc).replace(url, mask_url(url))
    password = urlsplit(url).password if "@" in url else None
    if password:
        text = text.replace(password, MASK).replace(unquote(password), MASK)
    return text


class MongoBase(StoreBase):
    """The client, the database named by the URL path, and one attribute per collection.

    ``client`` lets tests pass ``mongomock.MongoClient()``; ``drop_on_close`` drops the
    database on ``close`` (throwaway test databases on a real server).
    """

    _jobs: Collection
    _progress: Collection
    _runs: Collection
    _usage: Collection
    _budget: Collection
    _reservations: Collection
    _alerts: Collection
    _alert_keys: Collection
    _breakers: Collection
    _usage_totals: Collection
    _layer_stats: Collection

    def __init__(
        self,
        url: str,
        *,
        client: pymongo.MongoClient | None = None,
        drop_on_close: bool = False,
    ) -> None:
        self.url = url
        self._drop_on_close = drop_on_close
        self._owns_client = client is None
        options = {key.lower() for key in parse_qs(urlsplit(url).query)}
        try:
            name = database_name(url)
            if client is None:
                kwargs: dict[str, Any] = {"tz_aware": True, "uuidRepresentation": "standard"}
                if "serverselectiontimeoutms" not in options:  # an explicit URI option wins
                    kwargs["serverSelectionTimeoutMS"] = 5000
                client = pymongo.MongoClient(url, **kwargs)
            self._client = client
            db = client[name]
            self._create_indexes(db)
            build_rollups(db)
            backfill(db.jobs)  # jobs stored before sources and history (cheap once done)
        except PyMongoError as exc:
            if self._owns_client and client is not None:
                client.close()
            # pymongo appends a long topology dump to selection timeouts; the first part says it.
            reason = masked(url, exc).split(", Topology Description:", 1)[0]
            raise StoreError(f"cannot open MongoDB store at {mask_url(url)}: {reason}") from None
        self._db = db
        self._jobs, self._progress, self._runs = db.jobs, db.progress, db.runs
        self._usage, self._budget, self._reservations = db.usage, db.budget, db.reservations
        self._alerts, self._alert_keys, self._breakers = db.alerts, db.alert_keys, db.breakers
        self._usage_totals, self._layer_stats = db.usage_totals, db.layer_stats

    @staticmethod
    def _create_indexes(db: Any) -> None:
        # (status, ingested_at) serves status filters and the oldest-first claim order.
        db.jobs.create_index([("status", ASCENDING), ("ingested_at", ASCENDING)])
        for field in ("applied_at", "updated_at", "company", "sources.posting_id"):
            db.jobs.create_index(field)
        # The cross-source match (oldest job first) and the follow-ups (quietest first).
        db.jobs.create_index([("match_key", ASCENDING), ("ingested_at", ASCENDING)])
        db.jobs.create_index([("status", ASCENDING), ("status_changed_at", ASCENDING)])
        db.usage.create_index("call_id", unique=True)
        for field in ("at", "provider", "model", "layer", "job_id", "run_id"):
            db.usage.create_index(field)
        db.progress.create_index(
            [("run_id", ASCENDING), ("job_id", ASCENDING), ("layer", ASCENDING)], unique=True
        )
        db.runs.create_index([("started_at", DESCENDING)])
        db.reservations.create_index([("state", ASCENDING), ("lease_until", ASCENDING)])
        db.reservations.create_index("closed_at", expireAfterSeconds=CLOSED_RESERVATION_TTL_S)
        db.alerts.create_index([("key", ASCENDING), ("at", DESCENDING)])
        db.alerts.create_index([("at", DESCENDING)])
        db.alerts.create_index("kind")
        db.usage_totals.create_index(
            [("provider", ASCENDING), ("model", ASCENDING), ("layer", ASCENDING)], unique=True
        )

    def close(self) -> None:
        """Drop the database when asked to (test runs), then release the connection."""
        try:
            if self._drop_on_close:
                self._client.drop_database(self._db.name)
        finally:
            if self._owns_client:
                self._client.close()

    def ping(self) -> float:
        """Round-trip of the ``ping`` command in milliseconds."""
        start = time.perf_counter()
        self._db.command("ping")
        return (time.perf_counter() - start) * 1000


def connection_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a lost server into ``StoreError`` naming the URL with its password masked."""

    @functools.wraps(method)
    def wrapper(self: MongoBase, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ConnectionFailure as exc:
            raise StoreError(
                f"MongoDB store at {mask_url(self.url)} is unreachable: {masked(self.url, exc)}"
            ) from None

    return wrapper
