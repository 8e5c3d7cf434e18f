"""limits' own MongoDB rate storage on mongomock, with the two server behaviours mongomock lacks.

The storage code under test is limits' real ``MongoDBStorage`` (its pymongo calls run on
mongomock); only the collection answers change, and only where a real server answers otherwise:

1. TTL lag. A server's TTL monitor deletes expired documents in a background pass every 60 s
   (longer under load), so an expired window document stays readable until then; mongomock
   deletes it on every read. Here TTL indexes are kept as plain indexes and ``sweep()`` is the
   monitor's pass.
2. Lost insert race. Two upserts that both miss in their query phase both insert; the loser gets
   E11000. The server retries the loser itself only when the filter is equalities on the unique
   key alone (SERVER-37124: ``{_id: k}`` yes, ``{_id: k, v: ...}`` no). mongomock's upsert is one
   step, so it never loses. Here ``race_next_upsert(competitor)`` runs ``competitor`` between the
   query phase and the insert of the next upsert that misses, then answers as the server would.

One mongomock gap limits' moving window runs into is closed too, by rewriting to a filter the
server treats as identical: ``{f: {$not: X}}`` matches a document without ``f`` on a server
(mongomock: no match, so limits' ``acquire_entry`` refuses every second hit).

Not covered (mongomock cannot run it): limits' sliding window counter and fixed window on MongoDB
use update pipelines with ``$$NOW`` date arithmetic (mongomock evaluates ``expireAt`` to None)
and ``$unset`` (NotImplementedError). Their upserts filter on ``{_id}`` alone, which the server
retries itself, so (c) does not apply to them; test them on a real server only.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import mongomock
from limits.storage import MongoDBStorage
from pymongo.errors import DuplicateKeyError


def _server_retries(filter_: dict[str, Any]) -> bool:
    """The server retries a lost upsert itself for ``{"_id": <value>}`` and nothing more."""
    value = filter_.get("_id")
    is_operator = isinstance(value, dict) and any(str(k).startswith("$") for k in value)
    return set(filter_) == {"_id"} and not is_operator


def _server_filter(filter_: dict[str, Any]) -> dict[str, Any]:
    """``{f: {$not: X}}`` also matches a missing ``f``, as on a server."""
    out: dict[str, Any] = {}
    extra: list[dict[str, Any]] = []
    for field, cond in filter_.items():
        if isinstance(cond, dict) and set(cond) == {"$not"}:
            extra.append({"$or": [{field: {"$exists": False}}, {field: cond}]})
        else:
            out[field] = cond
    if extra:
        out["$and"] = [*out.get("$and", []), *extra]
    return out


class ServerLikeCollection:
    """A mongomock collection that answers like a server for TTL and upsert races."""

    def __init__(self, inner: mongomock.Collection) -> None:
        self._inner = inner
        self._competitor: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create_index(self, keys: Any, **kwargs: Any) -> str:
        kwargs.pop("expireAfterSeconds", None)  # kept as a plain index: sweep() is the TTL pass
        return self._inner.create_index(keys, **kwargs)

    def sweep(self) -> int:
        """The TTL monitor's pass: delete documents whose ``expireAt`` has passed."""
        now = datetime.datetime.now(datetime.UTC)
        return self._inner.delete_many({"expireAt": {"$lte": now}}).deleted_count

    def race_next_upsert(self, competitor: Callable[[], None]) -> None:
        """Let ``competitor`` (another client's write) land inside the next missing upsert."""
        self._competitor = competitor

    def update_one(self, filter_: dict[str, Any], update: Any, upsert: bool = False, **kw: Any):
        query = _server_filter(filter_)
        if upsert and self._competitor is not None and self._inner.find_one(query) is None:
            competitor, self._competitor = self._competitor, None
            competitor()  # our query phase found nothing; the other client inserts first
            taken = self._inner.find_one({"_id": filter_.get("_id")}) is not None
            if taken and not _server_retries(filter_):
                raise DuplicateKeyError(
                    f"E11000 duplicate key error collection: {self._inner.full_name} "
                    f"index: _id_ dup key: {{ _id: {filter_.get('_id')!r} }}",
                    11000,
                    {"code": 11000, "keyPattern": {"_id": 1}, "keyValue": {"_id": filter_["_id"]}},
                )
        return self._inner.update_one(query, update, upsert=upsert, **kw)

    def find_one(self, filter_: Any = None, *a: Any, **kw: Any) -> Any:
        if isinstance(filter_, dict):
            filter_ = _server_filter(filter_)
        return self._inner.find_one(filter_, *a, **kw)


class ServerLikeMongoStorage(MongoDBStorage):
    """limits' ``MongoDBStorage`` whose collections answer like a MongoDB server.

    No ``STORAGE_SCHEME``: limits registers a class by the scheme in its own body only, so this
    subclass never replaces ``mongodb://`` in limits' registry; pass it to the guard directly.
    """

    def __init__(self, client: mongomock.MongoClient | None = None, **options: Any) -> None:
        self._client = client or mongomock.MongoClient()
        self._proxies: dict[str, ServerLikeCollection] = {}
        super().__init__("mongodb://server-like.test/", **options)

    def _init_mongo_client(self, uri: str | None, **options: Any) -> mongomock.MongoClient:
        return self._client

    def _proxy(self, name: str) -> ServerLikeCollection:
        if name not in self._proxies:
            self._proxies[name] = ServerLikeCollection(self._database[name])
        return self._proxies[name]

    @property
    def counters(self) -> ServerLikeCollection:  # type: ignore[override]
        return self._proxy(self._collection_mapping["counters"])

    @property
    def windows(self) -> ServerLikeCollection:  # type: ignore[override]
        return self._proxy(self._collection_mapping["windows"])
