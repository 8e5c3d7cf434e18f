"""The SQLite store's schema: tables, indexes and the version kept in ``PRAGMA user_version``.

Encodings (exact and index-friendly): datetimes are INTEGER microseconds since the Unix epoch,
UTC; money is INTEGER nano-dollars (``applyflow.money``).
"""

from __future__ import annotations

import sqlite3

from applyflow.errors import StoreError

SCHEMA_VERSION = 3  # 2: usage (at, cost) covering index; 3: runs by status (crash sweep)

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
CREATE INDEX IF NOT EXISTS runs_status ON runs (json_extract(data, '$.status'));

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
