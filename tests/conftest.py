"""Shared fixtures. Prefect is pointed at a temporary home before anything imports it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_PREFECT_HOME = tempfile.mkdtemp(prefix="applyflow-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Tests never read a developer's .env or real keys.
for _name in list(os.environ):
    if _name.startswith("APPLYFLOW_") and _name != "APPLYFLOW_TEST_MONGODB_URI":
        del os.environ[_name]
# A command run without a Prefect API never leaves a local server behind; tests of the local
# server (tests/cli/test_server_command.py) ask for it.
os.environ["APPLYFLOW_PREFECT_SERVER"] = "temporary"

import pytest  # noqa: E402

from applyflow.store import Store  # noqa: E402
from tests.mongo_server import MONGO_URI  # noqa: E402

STORE_KINDS = ["sqlite", "mongomock"] + (["mongodb"] if MONGO_URI else [])


def make_store(kind: str, tmp_path: Path) -> Store:
    """A fresh, empty store of ``kind``: sqlite, mongomock or mongodb (real server)."""
    if kind == "sqlite":
        from applyflow.store.sqlite import SQLiteStore

        return SQLiteStore(f"sqlite:///{tmp_path / 'applyflow.db'}")
    from applyflow.store.mongo import MongoStore

    if kind == "mongomock":
        import mongomock

        from tests.mongomock_atomic import make_writes_atomic

        make_writes_atomic()  # a real server's single-document atomicity (see that module)
        return MongoStore("mongodb://mongomock.test/applyflow_test", client=mongomock.MongoClient())
    from tests.mongo_server import fresh_store

    return fresh_store()  # the session's client and database, every collection emptied


@contextmanager
def opened_store(kind: str, tmp_path: Path) -> Iterator[Store]:
    """``make_store`` closed again when the block ends."""
    s = make_store(kind, tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every store implementation, fresh and empty (the contract suite runs on each)."""
    with opened_store(request.param, tmp_path) as s:
        yield s


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with opened_store("sqlite", tmp_path) as s:
        yield s


@pytest.fixture(scope="session", autouse=True)
def _mongo_session() -> Iterator[None]:
    """The real server's one client and database (if a test used them) end with the session."""
    yield
    if MONGO_URI:
        from tests.mongo_server import end_session

        end_session()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a real redis-server started for this session (Debian's
    package; tests/redis_server.py). Tests sharing it use their own keys or flush it."""
    from tests.redis_server import running_redis

    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test harness (ephemeral API) for the whole session; start-up is ~10 s."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
