"""A ``limits`` storage on a SQLite file, so every local process shares one rate window.

Importing this module registers the ``sqlite`` scheme with ``limits``:
``limits.storage.storage_from_string("sqlite:///.applyflow/ratelimits.db")``. Each check-and-
acquire runs in one ``BEGIN IMMEDIATE`` transaction, so two processes never both take the last
slot of a window.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from math import floor
from pathlib import Path

from limits.errors import ConfigurationError
from limits.storage import MovingWindowSupport, SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow

__all__ = ["SQLiteStorage"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS windows (
    key TEXT NOT NULL, at REAL NOT NULL, amount INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS windows_key_at ON windows (key, at);
CREATE INDEX IF NOT EXISTS windows_expiry ON windows (expires_at);
"""


class SQLiteStorage(
    Storage, MovingWindowSupport, SlidingWindowCounterSupport, TimestampedSlidingWindow
):
    """Fixed window, moving window and sliding window counter storage in one SQLite file.

    Its sliding windows are aligned to the clock (``int(now / expiry)`` keys, like limits'
    memory storage), which ``TimestampedSlidingWindow`` declares; limits' own tests
    (``tests/limits_suite``) take that branch for it.
    """

    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: float | str | bool):
        path = uri.removeprefix("sqlite:///")
        if not path or path == uri:
            raise ConfigurationError(f"expected sqlite:///PATH for the rate storage, got {uri!r}")
        self.path = Path(path)
        self.timeout = float(options.get("timeout", 30.0))
        self._local = threading.local()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._conn()
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                # Processes opening a new file at once: the switch to WAL waits on no busy
                # timeout, so the one that loses the race retries until the timeout.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        conn.executescript(_SCHEMA)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    # --- connections -----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        """One connection per thread and process (a forked child never reuses its parent's)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            # WAL + NORMAL stays consistent on a crash; only a power cut may lose the last hits.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front, so read-then-write is atomic across processes."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --- counters (fixed window) -----------------------------------------------------------
    @staticmethod
    def _incr(conn: sqlite3.Connection, key: str, expiry: float, amount: int, now: float) -> int:
        conn.execute(
            "INSERT INTO counters (key, value, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET"
            " value = CASE WHEN expires_at <= ? THEN excluded.value"
            " ELSE value + excluded.value END,"
            " expires_at = CASE WHEN expires_at <= ? THEN excluded.expires_at ELSE expires_at END",
            (key, amount, now + expiry, now, now),
        )
        return conn.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()[0]

    @staticmethod
    def _get(conn: sqlite3.Connection, key: str, now: float) -> int:
        row = conn.execute(
            "SELECT value FROM counters WHERE key = ? AND expires_at > ?", (key, now)
        ).fetchone()
        return row[0] if row else 0

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self._tx() as conn:
            return self._incr(conn, key, expiry, amount, time.time())

    def get(self, key: str) -> int:
        return self._get(self._conn(), key, time.time())

    def get_expiry(self, key: str) -> float:
        now = time.time()
        row = (
            self._conn()
            .execute("SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?", (key, now))
            .fetchone()
        )
        return row[0] if row else now

    def check(self) -> bool:
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        with self._tx() as conn:
            count = conn.execute(
                "SELECT (SELECT count(*) FROM counters) + (SELECT count(DISTINCT key) FROM windows)"
            ).fetchone()[0]
            conn.execute("DELETE FROM counters")
            conn.execute("DELETE FROM windows")
        return count

    def clear(self, key: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM counters WHERE key = ?", (key,))
            conn.execute("DELETE FROM windows WHERE key = ?", (key,))

    # --- moving window ---------------------------------------------------------------------
    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        with self._tx() as conn:
            now = time.time()
            conn.execute("DELETE FROM windows WHERE expires_at < ?", (now,))
            used = conn.execute(
                "SELECT coalesce(sum(amount), 0) FROM windows WHERE key = ? AND at >= ?",
                (key, now - expiry),
            ).fetchone()[0]
            if used + amount > limit:
                return False
            # One row carries the whole weight: a 50k-token hit is one row, not 50k.
            conn.execute(
                "INSERT INTO windows (key, at, amount, expires_at) VALUES (?, ?, ?, ?)",
                (key, now, amount, now + expiry),
            )
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        oldest, used = (
            self._conn()
            .execute(
                "SELECT min(at), coalesce(sum(amount), 0) FROM windows WHERE key = ? AND at >= ?",
                (key, now - expiry),
            )
            .fetchone()
        )
        return (oldest if oldest is not None else now), used

    # --- sliding window counter ------------------------------------------------------------
    @staticmethod
    def _window_info(
        conn: sqlite3.Connection, key: str, expiry: int, now: float
    ) -> tuple[int, float, int, float]:
        previous_key, current_key = SQLiteStorage.sliding_window_keys(key, expiry, now)
        previous = SQLiteStorage._get(conn, previous_key, now)
        current = SQLiteStorage._get(conn, current_key, now)
        previous_ttl = 0.0 if previous == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, previous_ttl, current, current_ttl

    def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        with self._tx() as conn:
            now = time.time()
            conn.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
            previous, previous_ttl, current, _ = self._window_info(conn, key, expiry, now)
            if floor(previous * previous_ttl / expiry + current) + amount > limit:
                return False
            _, current_key = self.sliding_window_keys(key, expiry, now)
            self._incr(conn, current_key, 2 * expiry, amount, now)
            return True

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        return self._window_info(self._conn(), key, expiry, time.time())

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        previous_key, current_key = self.sliding_window_keys(key, expiry, time.time())
        with self._tx() as conn:
            conn.execute("DELETE FROM counters WHERE key IN (?, ?)", (previous_key, current_key))
