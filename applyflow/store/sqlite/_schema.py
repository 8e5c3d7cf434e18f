"""The SQLite store's schema: tables, indexes and the version kept in ``PRAGMA user_version``.

Encodings (exact and index-friendly): datetimes are INTEGER microseconds since the Unix epoch,
UTC; money is INTEGER nano-dollars (``applyflow.money``).

Rollups: triggers keep ``usage_totals`` (per provider, model, layer) and ``layer_durations`` /
``layer_failures`` (per layer, from the progress rows) in step with every write, in the
writer's own transaction, so the metrics read a few rows instead of scanning the ledger. An
upgrade rebuilds them from the rows already stored.
"""

from __future__ import annotations

import sqlite3

from applyflow.errors import StoreError
from applyflow.matching import match_key
from applyflow.models import TOKEN_CLASSES
from applyflow.store.runs import LAYER_DURATION_BUCKETS

# 2: usage (at, cost) covering index for the spend series; 3: rollups for the metrics
# 4: job_sources, job_history; jobs.remote_policy, compensation, apply_url, match_key,
#    status_changed_at (``migrate_v4`` fills them for jobs stored before)
# 5: runs by status (the crash sweep)
# 6: the token classes (cache, reasoning, audio) on usage rows and their rollups
SCHEMA_VERSION = 6

# One INTEGER column each on ``usage`` and ``usage_totals`` (0 on rows from before version 6).
_CLASS_COLUMNS = "".join(f"\n    {name} INTEGER NOT NULL DEFAULT 0," for name in TOKEN_CLASSES)

SCHEMA = f"""
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
    run_id TEXT,
    remote_policy TEXT,
    compensation TEXT,
    apply_url TEXT,
    match_key TEXT NOT NULL DEFAULT '',
    status_changed_at INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_status_ingested ON jobs (status, ingested_at);
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs (updated_at);
CREATE INDEX IF NOT EXISTS jobs_applied ON jobs (applied_at);
CREATE INDEX IF NOT EXISTS jobs_fit ON jobs (fit);
CREATE INDEX IF NOT EXISTS jobs_match ON jobs (match_key, ingested_at);
CREATE INDEX IF NOT EXISTS jobs_status_changed ON jobs (status, status_changed_at);

-- Each posting of a job: one row per (posting fingerprint, source), so a job found on two
-- boards has two. Its own content hash tells whether that posting changed.
CREATE TABLE IF NOT EXISTS job_sources (
    posting_id TEXT NOT NULL,
    source TEXT NOT NULL,
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    external_id TEXT,
    url TEXT,
    apply_url TEXT,
    content_hash TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (posting_id, source)
);
CREATE INDEX IF NOT EXISTS job_sources_job ON job_sources (job_id, source);

CREATE TABLE IF NOT EXISTS job_history (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    previous TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS job_history_job ON job_history (job_id);

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
    output_tokens INTEGER NOT NULL,{_CLASS_COLUMNS}
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

CREATE INDEX IF NOT EXISTS alerts_kind ON alerts (kind);

CREATE TABLE IF NOT EXISTS breakers (
    provider TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    fail_count INTEGER NOT NULL,
    opened_at INTEGER,
    updated_at INTEGER NOT NULL
);

-- Rollups kept by the triggers below (usage rows are never updated or deleted).
CREATE TABLE IF NOT EXISTS usage_totals (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    layer TEXT NOT NULL,  -- '' for calls outside a layer
    calls INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,{_CLASS_COLUMNS}
    cost INTEGER NOT NULL,
    PRIMARY KEY (provider, model, layer)
);
CREATE TABLE IF NOT EXISTS layer_durations (
    layer TEXT NOT NULL,
    bucket INTEGER NOT NULL,  -- index into LAYER_DURATION_BUCKETS, len() for above them all
    count INTEGER NOT NULL,
    micros INTEGER NOT NULL,  -- total duration, integer microseconds (exact when subtracted)
    PRIMARY KEY (layer, bucket)
);
CREATE TABLE IF NOT EXISTS layer_failures (
    layer TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);
"""


def _bucket(col: str) -> str:
    """SQL for the duration bucket of ``col`` (``store.runs.duration_bucket`` in SQL)."""
    whens = " ".join(f"WHEN {col} <= {b!r} THEN {i}" for i, b in enumerate(LAYER_DURATION_BUCKETS))
    return f"CASE {whens} ELSE {len(LAYER_DURATION_BUCKETS)} END"


def _micros(col: str) -> str:
    return f"CAST(round({col} * 1000000) AS INTEGER)"


def _count_progress(row: str, sign: int) -> str:
    """Statements adding (sign 1) or taking away (-1) one progress row's share of the rollups."""
    if sign > 0:
        return f"""
  INSERT INTO layer_durations (layer, bucket, count, micros)
    SELECT {row}.layer, {_bucket(f"{row}.duration_s")}, 1, {_micros(f"{row}.duration_s")}
    WHERE {row}.status = 'completed' AND {row}.duration_s IS NOT NULL
    ON CONFLICT (layer, bucket) DO UPDATE
    SET count = count + 1, micros = micros + excluded.micros;
  INSERT INTO layer_failures (layer, count) SELECT {row}.layer, 1 WHERE {row}.status = 'failed'
    ON CONFLICT (layer) DO UPDATE SET count = count + 1;"""
    return f"""
  UPDATE layer_durations SET count = count - 1, micros = micros - {_micros(f"{row}.duration_s")}
    WHERE {row}.status = 'completed' AND {row}.duration_s IS NOT NULL
    AND layer = {row}.layer AND bucket = {_bucket(f"{row}.duration_s")};
  UPDATE layer_failures SET count = count - 1
    WHERE {row}.status = 'failed' AND layer = {row}.layer;"""


# One statement each (they contain semicolons, so they are not split like SCHEMA).
_TOTALS = ("input_tokens", "output_tokens", *TOKEN_CLASSES, "cost")
TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS usage_totals_add AFTER INSERT ON usage BEGIN
  INSERT INTO usage_totals (provider, model, layer, calls, {", ".join(_TOTALS)})
    VALUES (NEW.provider, NEW.model, coalesce(NEW.layer, ''), 1,
            {", ".join(f"NEW.{name}" for name in _TOTALS)})
    ON CONFLICT (provider, model, layer) DO UPDATE SET calls = calls + 1,
      {", ".join(f"{name} = {name} + excluded.{name}" for name in _TOTALS)};
END""",
    f"""CREATE TRIGGER IF NOT EXISTS progress_rollup_insert AFTER INSERT ON progress BEGIN
{_count_progress("NEW", 1)}
END""",
    f"""CREATE TRIGGER IF NOT EXISTS progress_rollup_update AFTER UPDATE ON progress BEGIN
{_count_progress("OLD", -1)}
{_count_progress("NEW", 1)}
END""",
]

# The rollups recomputed from the stored rows (on an upgrade; a fresh database has none).
REBUILD_ROLLUPS = [
    "DELETE FROM usage_totals",
    f"INSERT INTO usage_totals (provider, model, layer, calls, {', '.join(_TOTALS)})"
    f" SELECT provider, model, coalesce(layer, ''), count(*),"
    f" {', '.join(f'sum({name})' for name in _TOTALS)} FROM usage GROUP BY 1, 2, 3",
    "DELETE FROM layer_durations",
    f"INSERT INTO layer_durations (layer, bucket, count, micros) SELECT layer,"
    f" {_bucket('duration_s')}, count(*), sum({_micros('duration_s')}) FROM progress"
    " WHERE status = 'completed' AND duration_s IS NOT NULL GROUP BY 1, 2",
    "DELETE FROM layer_failures",
    "INSERT INTO layer_failures (layer, count) SELECT layer, count(*) FROM progress"
    " WHERE status = 'failed' GROUP BY layer",
]


_V4_COLUMNS = (
    "remote_policy TEXT", "compensation TEXT", "apply_url TEXT",
    "match_key TEXT NOT NULL DEFAULT ''", "status_changed_at INTEGER",
)  # fmt: skip


def migrate_v4(conn: sqlite3.Connection) -> None:
    """Jobs stored before version 4: each becomes its own one source (with its stored content
    hash, so re-ingesting it finds it unchanged), gets its match key, and its last status
    change is taken to be its application (or its last update). Their history starts empty."""
    conn.execute(
        "INSERT OR IGNORE INTO job_sources (posting_id, source, job_id, external_id, url,"
        " content_hash, first_seen, changed_at) SELECT id, source, id, external_id, url,"
        " content_hash, ingested_at, updated_at FROM jobs"
    )
    rows = conn.execute("SELECT id, company, title, location FROM jobs").fetchall()
    conn.executemany(
        "UPDATE jobs SET match_key = ? WHERE id = ?",
        [(match_key(r["company"], r["title"], r["location"]), r["id"]) for r in rows],
    )
    conn.execute(
        "UPDATE jobs SET status_changed_at = CASE WHEN status = 'applied'"
        " THEN coalesce(applied_at, updated_at) ELSE updated_at END"
        " WHERE status_changed_at IS NULL"
    )


def _add_class_columns(conn: sqlite3.Connection) -> None:
    """Version 6: the token-class columns on a ``usage`` and ``usage_totals`` from before it,
    and the rollup trigger that sums them (recreated; the rollups are rebuilt after)."""
    for table in ("usage", "usage_totals"):
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name in TOKEN_CLASSES if columns else ():
            if name not in columns:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} INTEGER NOT NULL DEFAULT 0")
    conn.execute("DROP TRIGGER IF EXISTS usage_totals_add")


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
            columns = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
            older = bool(columns) and "match_key" not in columns  # jobs from before version 4
            for column in _V4_COLUMNS if older else ():
                conn.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
            _add_class_columns(conn)
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            for statement in [*TRIGGERS, *REBUILD_ROLLUPS]:
                conn.execute(statement)
            if older:
                migrate_v4(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
