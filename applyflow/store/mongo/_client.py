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
from pymongo import ReadPreference, WriteConcern
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError

from applyflow.errors import StoreError
from applyflow.settings import MASK, mask_url
from applyflow.store.base import StoreBase
from applyflow.store.mongo._postings import backfill
from applyflow.store.mongo._rollups import build_rollups
from applyflow.store.mongo.indexes import INDEXES, OBSOLETE, Index, index_name

# Client timeouts unless the URI sets its own. Server selection outlasts a replica-set election
# (10-12 s), so a stepdown is waited out instead of failing the flow; `socketTimeoutMS` bounds
# every reply, so a half-open connection cannot hang a worker. (Not `timeoutMS`: pymongo then
# uses it for server selection too, overriding a URI's serverSelectionTimeoutMS.)
CLIENT_TIMEOUTS_MS = {
    "serverSelectionTimeoutMS": 20_000,
    "connectTimeoutMS": 10_000,
    "socketTimeoutMS": 30_000,
}
# The compare-and-set writes assume they read and write the primary, and that an acknowledged
# write survives a failover: pinned whatever the URI says (readPreference, w).
PINNED = {"read_preference": ReadPreference.PRIMARY, "write_concern": WriteConcern("majority")}


def client_options(url: str) -> dict[str, Any]:
    """pymongo client options for ``url``: the timeouts above where the URI sets none."""
    given = {key.lower() for key in parse_qs(urlsplit(url).query)}
    if "timeoutms" in given:  # the URI's own operation bound replaces the socket one
        given.add("sockettimeoutms")
    timeouts = {k: v for k, v in CLIENT_TIMEOUTS_MS.items() if k.lower() not in given}
    return {"tz_aware": True, "uuidRepresentation": "standard", **timeouts}


def pinned_database(client: Any, name: str) -> Database:
    """The database with primary reads and majority writes, whatever the client's URI says."""
    return client.get_database(name, **PINNED)


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

    ``client`` lets tests pass ``mongomock.MongoClient()`` or a session's shared client (opening
    a store on a database that has its indexes only lists them); ``drop_on_close`` drops
    the store's collections on ``close`` (throwaway test databases on a real server; dropping
    collections needs only the ``readWrite`` role, unlike ``dropDatabase``).
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
        try:
            name = database_name(url)
            if client is None:
                client = pymongo.MongoClient(url, **client_options(url))
            self._client = client
            db = pinned_database(client, name)
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
        """Exactly the indexes of ``indexes.INDEXES``: the missing ones are made, the ones
        earlier versions made are dropped (one listing per collection when nothing changed)."""
        wanted: dict[str, list[Index]] = {}
        for index in INDEXES:
            wanted.setdefault(index.collection, []).append(index)
        for collection in sorted(set(wanted) | set(OBSOLETE)):
            existing = db[collection].index_information()
            for name in OBSOLETE.get(collection, ()):
                if name in existing:
                    db[collection].drop_index(name)
            for index in wanted.get(collection, []):
                if index_name(index.keys) in existing:
                    continue
                options: dict[str, Any] = {"unique": True} if index.unique else {}
                if index.expire_after_s is not None:
                    options["expireAfterSeconds"] = index.expire_after_s
                db[collection].create_index(list(index.keys), **options)

    def close(self) -> None:
        """Drop the store's collections when asked to (test runs), then release the connection."""
        try:
            if self._drop_on_close:
                for name in self._db.list_collection_names():
                    self._db.drop_collection(name)
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
