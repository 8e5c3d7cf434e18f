"""SQLite plumbing for ``SQLiteStore``: schema, value encodings, connections, transactions.

Encodings (exact and index-friendly):
- datetimes: INTEGER microseconds since the Unix epoch, UTC; read back as aware UTC.
- money: INTEGER nano-dollars, so sums and cap checks never drift with float rounding.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from applyflow.errors import StoreError
from applyflow.models import as_utc

SCHEMA_VERSION = 2  # 2: usage (at, cost) covering index for the spend series
BUSY_TIMEOUT_MS = 30_000
URL_PREFIX = "sqlite:///"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_NANOS = 1_000_000_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    external_id TEXT,
    url TEXT,
    title TEXT NOT NULL,
    company TEXT NOT NULL,
    location TEXT,
    description TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    posted_at INTEGER,
    ingested_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'new',
    applied_at INTEGER,
    fit INTEGER,
    cost INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    claimed_by TEXT,
    lease_until INTEGER,
    run_id TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status_ingested ON jobs (status, ingested_at);
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs (updated_at);
CREATE INDEX IF NOT EXISTS jobs_applied ON jobs (applied_at);
CREATE INDEX IF NOT EXISTS jobs_fit ON jobs (fit);

CREATE TABLE IF NOT EXISTS job_outputs (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    layer TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, layer)
);

CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);

CREATE TABLE IF NOT EXISTS progress (
    run_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    layer TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER,
    ended_at INTEGER,
    duration_s REAL,
    cost INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, job_id, layer)
);

CREATE TABLE IF NOT EXISTS usage (
    call_id TEXT PRIMARY KEY,
    run_id TEXT,
    job_id TEXT,
    layer TEXT,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost INTEGER NOT NULL,
    estimated INTEGER NOT NULL DEFAULT 0,
    fallback INTEGER NOT NULL DEFAULT 0,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_at ON usage (at);
CREATE INDEX IF NOT EXISTS usage_at_cost ON usage (at, cost);
CREATE INDEX IF NOT EXISTS usage_run ON usage (run_id, at);
CREATE INDEX IF NOT EXISTS usage_job ON usage (job_id, at);
CREATE INDEX IF NOT EXISTS usage_provider ON usage (provider, at);
CREATE INDEX IF NOT EXISTS usage_model ON usage (model, at);
CREATE INDEX IF NOT EXISTS usage_layer ON usage (layer, at);

CREATE TABLE IF NOT EXISTS budget (
    scope TEXT PRIMARY KEY,
    spent INTEGER NOT NULL DEFAULT 0
);
-- One row per (reservation, scope): a reservation holds its amount on each of its scopes.
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT NOT NULL,
    scope TEXT NOT NULL,
    amount INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    PRIMARY KEY (id, scope)
);
CREATE INDEX IF NOT EXISTS reservations_scope ON reservations (scope, lease_until);
CREATE INDEX IF NOT EXISTS reservations_lease ON reservations (lease_until);
-- Settled reservation ids, so a repeated settle never spends twice.
CREATE TABLE IF NOT EXISTS settlements (
    reservation_id TEXT PRIMARY KEY,
    at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_key_at ON alerts (key, at);
CREATE INDEX IF NOT EXISTS alerts_at ON alerts (at);

CREATE TABLE IF NOT EXISTS breakers (
    provider TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    fail_count INTEGER NOT NULL,
    opened_at INTEGER,
    updated_at INTEGER NOT NULL
);
"""


def to_us(value: datetime) -> int:
    """Microseconds since the epoch (naive values are taken as UTC)."""
    return (as_utc(value) - _EPOCH) // _ONE_US


def opt_us(value: datetime | None) -> int | None:
    return None if value is None else to_us(value)


def from_us(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def seconds_us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def to_nanos(usd: float) -> int:
    """Dollars to integer nano-dollars."""
    return round(usd * _NANOS)


def from_nanos(nanos: int | None) -> float:
    return (nanos or 0) / _NANOS


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


def create_schema(conn: sqlite3.Connection) -> None:
    """Switch to WAL and create the tables once; refuse a database from a newer applyflow."""
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"could not switch to WAL journal mode (got {mode!r})")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database schema version {version} is newer than this applyflow supports "
                f"({SCHEMA_VERSION}); upgrade applyflow"
            )
        if version < SCHEMA_VERSION:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise


class Database:
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
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding SQLite's write lock from its first statement."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
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

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs see one consistent state."""
        conn = self._conn()
        try:
            conn.execute("BEGIN")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.rollback()
            raise self._fail(exc) from exc
        except BaseException:
            conn.rollback()
            raise

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
