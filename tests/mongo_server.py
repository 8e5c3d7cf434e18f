"""The real MongoDB server tests use when ``APPLYFLOW_TEST_MONGODB_URI`` is set.

One client for the whole test session and one database (``applyflow_test_<8 hex>``) whose
collections are emptied before each test and dropped when the session ends (dropping
collections needs only ``readWrite``; ``dropDatabase`` does not exist in that role).
"""

from __future__ import annotations

import functools
import os
import uuid
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import pymongo

from applyflow.store.mongo import MongoStore, client_options

MONGO_URI = os.environ.get("APPLYFLOW_TEST_MONGODB_URI")
SESSION_DB = f"applyflow_test_{uuid.uuid4().hex[:8]}"


def with_database(uri: str, name: str) -> str:
    """``uri`` naming database ``name``, still logging in where it did.

    pymongo authenticates against the URI's database when ``authSource`` is not given (or
    ``admin`` when the URI names none), so a URI with credentials gets that as ``authSource``
    before its path is replaced: ``mongodb://root:pw@host/`` keeps logging in to ``admin``.
    """
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    has_auth_source = any(key.lower() == "authsource" for key, _ in query)
    if "@" in parts.netloc and not has_auth_source:
        query.append(("authSource", unquote(parts.path.lstrip("/")) or "admin"))
    return urlunsplit(parts._replace(path=f"/{name}", query=urlencode(query)))


def session_url() -> str:
    assert MONGO_URI, "APPLYFLOW_TEST_MONGODB_URI is not set"
    return with_database(MONGO_URI, SESSION_DB)


@functools.cache
def session_client() -> pymongo.MongoClient:
    """The session's one client (made on first use)."""
    url = session_url()
    return pymongo.MongoClient(url, **client_options(url))


def fresh_store() -> MongoStore:
    """A store on the session database with every collection emptied (indexes kept)."""
    client = session_client()
    db = client[SESSION_DB]
    for name in db.list_collection_names():
        db[name].delete_many({})
    return MongoStore(session_url(), client=client)


def end_session() -> None:
    """Drop the session's collections and close its client, if one was made."""
    if session_client.cache_info().currsize == 0:
        return
    client = session_client()
    MongoStore(session_url(), client=client, drop_on_close=True).close()
    client.close()
    session_client.cache_clear()
