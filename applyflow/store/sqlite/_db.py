"""SQLite plumbing shared by every part of ``SQLiteStore``: URL, connections, transactions.

Datetimes are stored as INTEGER microseconds since the Unix epoch (UTC) and read back as aware
UTC; money as INTEGER nano-dollars (``applyflow.money``). Each concern (``_jobs``, ``_runs``,
``_ledger``, ``_alerts``, ``_stats``) is a ``Database`` subclass using these helpers.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from applyflow.errors import StoreError
from applyflow.models import as_utc
from applyflow.store.base import StoreBase
from applyflow.store.sqlite._schema import create_schema

BUSY_TIMEOUT_MS = 30_000
URL_PREFIX = "sqlite:///"
# Bucket bounds arrive as one JSON parameter: any number of buckets, one query over an index.
BUCKETS_CTE = (
    "WITH b(lo, hi) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') "
    "FROM json_each(?))"
)
FOREVER_AGO = -(2**62)  # a lower bound below every stored time ("since" not given)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def to_us(value: datetime) -> int:
    """Microseconds since the epoch (naive values are taken as UTC)."""
    return (as_utc(value) - _EPOCH) // _ONE_US


def opt_us(value: datetime | None) -> int | None:
    return None if value is None else to_us(value)


def from_us(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def seconds_us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def db_path(url: str) -> Path:
    """The database file named by ``sqlite:///PATH`` (absolute paths: ``sqlite:////abs``)."""
    if not url.startswith(URL_PREFIX) or len(url) == len(URL_PREFIX):
        raise StoreError(f"not a SQLite store URL: {url!r}; expected sqlite:///path/to/file.db")
    path = url.removeprefix(URL_PREFIX).split("?", 1)[0]
    if path == ":memory:":
        # Each thread/process opens its own connection, so an in-memory DB would not be shared.
        raise StoreError(f"{url!r}: in-memory SQLite is not supported; use a file path")
    return Path(path).expanduser()


def _casefold(value: str | None) -> str | None:
    return None if value is None else value.casefold()


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with our pragmas."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Unicode-aware case folding for literal substring search (SQLite's lower() is ASCII only).
    conn.create_function("casefold", 1, _casefold, deterministic=True)
    return conn


class Database(StoreBase):
    """One connection per thread to the file; explicit ``BEGIN IMMEDIATE`` transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._path = db_path(url)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False
        self._pid = os.getpid()
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            create_schema(self._conn())
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise StoreError(f"cannot open SQLite store {url}: {exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"SQLite store {self.url} is closed")
        if self._pid != os.getpid():
            # A forked child must not share its parent's connections: start afresh.
            self._pid, self._local, self._conns = os.getpid(), threading.local(), []
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._path)
            self._local.conn = conn
            with self._lock:
                # Threads come and go (Streamlit reruns, task runners): drop finished ones'.
                dead = [c for t, c in self._conns if not t.is_alive()]
                self._conns = [(t, c) for t, c in self._conns if t.is_alive()]
                self._conns.append((threading.current_thread(), conn))
            for old in dead:
                old.close()
        return conn

    def _fail(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(f"SQLite store {self.url}: {exc}")

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        """Run the block inside ``begin`` ... COMMIT; roll back on any error."""
        conn = self._conn()
        try:
            conn.execute(begin)
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.rollback()
            raise self._fail(exc) from exc
        except BaseException:
            conn.rollback()
            raise

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction holding SQLite's write lock from its first statement."""
        return self._transaction("BEGIN IMMEDIATE")

    def _snapshot(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: several SELECTs see one consistent state."""
        return self._transaction("BEGIN")

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One autocommitted statement (atomic by itself); rows changed."""
        try:
            return self._conn().execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        """Close every thread's connection."""
        self._closed = True
        with self._lock:
            conns, self._conns = self._conns, []
        for _, conn in conns:
            conn.close()

    def ping(self) -> float:
        """Round-trip to the database file in milliseconds."""
        start = time.perf_counter()
        self._all("SELECT count(*) FROM sqlite_master")
        return (time.perf_counter() - start) * 1000
