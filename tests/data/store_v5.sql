-- A SQLite store written by applyflow at schema version 5 (before the token classes): three
-- usage rows and their rollups, no cache, reasoning or audio columns.
PRAGMA user_version = 5;
BEGIN TRANSACTION;
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE breakers (
    provider TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    fail_count INTEGER NOT NULL,
    opened_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE TABLE budget (
    scope TEXT PRIMARY KEY,
    spent INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE job_history (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    previous TEXT,
    note TEXT
);
CREATE TABLE job_outputs (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    layer TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, layer)
);
CREATE TABLE job_sources (
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
CREATE TABLE jobs (
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
CREATE TABLE layer_durations (
    layer TEXT NOT NULL,
    bucket INTEGER NOT NULL,  -- index into LAYER_DURATION_BUCKETS, len() for above them all
    count INTEGER NOT NULL,
    micros INTEGER NOT NULL,  -- total duration, integer microseconds (exact when subtracted)
    PRIMARY KEY (layer, bucket)
);
CREATE TABLE layer_failures (
    layer TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);
CREATE TABLE progress (
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
CREATE TABLE reservations (
    id TEXT NOT NULL,
    scope TEXT NOT NULL,
    amount INTEGER NOT NULL,
    lease_until INTEGER NOT NULL,
    PRIMARY KEY (id, scope)
);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE settlements (
    reservation_id TEXT PRIMARY KEY,
    at INTEGER NOT NULL
);
CREATE TABLE usage (
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
INSERT INTO "usage" VALUES('v5-call-0','run-v5','job-v5','extract','openai','gpt-4o-mini',13000,1000,2550000,0,0,1796040000000000);
INSERT INTO "usage" VALUES('v5-call-1','run-v5','job-v5','score','openai','gpt-4o-mini',2000,300,480000,0,0,1796040000000000);
INSERT INTO "usage" VALUES('v5-call-2','run-v5','job-v5','generate','anthropic','claude-sonnet-4-5',4000,900,25500000,0,0,1796040000000000);
CREATE TABLE usage_totals (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    layer TEXT NOT NULL,  -- '' for calls outside a layer
    calls INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost INTEGER NOT NULL,
    PRIMARY KEY (provider, model, layer)
);
INSERT INTO "usage_totals" VALUES('openai','gpt-4o-mini','extract',1,13000,1000,2550000);
INSERT INTO "usage_totals" VALUES('openai','gpt-4o-mini','score',1,2000,300,480000);
INSERT INTO "usage_totals" VALUES('anthropic','claude-sonnet-4-5','generate',1,4000,900,25500000);
CREATE INDEX jobs_status_ingested ON jobs (status, ingested_at);
CREATE INDEX jobs_updated ON jobs (updated_at);
CREATE INDEX jobs_applied ON jobs (applied_at);
CREATE INDEX jobs_fit ON jobs (fit);
CREATE INDEX jobs_match ON jobs (match_key, ingested_at);
CREATE INDEX jobs_status_changed ON jobs (status, status_changed_at);
CREATE INDEX job_sources_job ON job_sources (job_id, source);
CREATE INDEX job_history_job ON job_history (job_id);
CREATE INDEX runs_started ON runs (started_at);
CREATE INDEX runs_status ON runs (json_extract(data, '$.status'));
CREATE INDEX usage_at ON usage (at);
CREATE INDEX usage_at_cost ON usage (at, cost);
CREATE INDEX usage_run ON usage (run_id, at);
CREATE INDEX usage_job ON usage (job_id, at);
CREATE INDEX usage_provider ON usage (provider, at);
CREATE INDEX usage_model ON usage (model, at);
CREATE INDEX usage_layer ON usage (layer, at);
CREATE INDEX reservations_scope ON reservations (scope, lease_until);
CREATE INDEX reservations_lease ON reservations (lease_until);
CREATE INDEX alerts_key_at ON alerts (key, at);
CREATE INDEX alerts_at ON alerts (at);
CREATE INDEX alerts_kind ON alerts (kind);
CREATE TRIGGER usage_totals_add AFTER INSERT ON usage BEGIN
  INSERT INTO usage_totals (provider, model, layer, calls, input_tokens, output_tokens, cost)
    VALUES (NEW.provider, NEW.model, coalesce(NEW.layer, ''), 1, NEW.input_tokens,
            NEW.output_tokens, NEW.cost)
    ON CONFLICT (provider, model, layer) DO UPDATE SET calls = calls + 1,
      input_tokens = input_tokens + excluded.input_tokens,
      output_tokens = output_tokens + excluded.output_tokens, cost = cost + excluded.cost;
END;
CREATE TRIGGER progress_rollup_insert AFTER INSERT ON progress BEGIN

  INSERT INTO layer_durations (layer, bucket, count, micros)
    SELECT NEW.layer, CASE WHEN NEW.duration_s <= 0.1 THEN 0 WHEN NEW.duration_s <= 0.25 THEN 1 WHEN NEW.duration_s <= 0.5 THEN 2 WHEN NEW.duration_s <= 1.0 THEN 3 WHEN NEW.duration_s <= 2.5 THEN 4 WHEN NEW.duration_s <= 5.0 THEN 5 WHEN NEW.duration_s <= 10.0 THEN 6 WHEN NEW.duration_s <= 25.0 THEN 7 WHEN NEW.duration_s <= 60.0 THEN 8 WHEN NEW.duration_s <= 120.0 THEN 9 WHEN NEW.duration_s <= 300.0 THEN 10 WHEN NEW.duration_s <= 600.0 THEN 11 ELSE 12 END, 1, CAST(round(NEW.duration_s * 1000000) AS INTEGER)
    WHERE NEW.status = 'completed' AND NEW.duration_s IS NOT NULL
    ON CONFLICT (layer, bucket) DO UPDATE
    SET count = count + 1, micros = micros + excluded.micros;
  INSERT INTO layer_failures (layer, count) SELECT NEW.layer, 1 WHERE NEW.status = 'failed'
    ON CONFLICT (layer) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER progress_rollup_update AFTER UPDATE ON progress BEGIN

  UPDATE layer_durations SET count = count - 1, micros = micros - CAST(round(OLD.duration_s * 1000000) AS INTEGER)
    WHERE OLD.status = 'completed' AND OLD.duration_s IS NOT NULL
    AND layer = OLD.layer AND bucket = CASE WHEN OLD.duration_s <= 0.1 THEN 0 WHEN OLD.duration_s <= 0.25 THEN 1 WHEN OLD.duration_s <= 0.5 THEN 2 WHEN OLD.duration_s <= 1.0 THEN 3 WHEN OLD.duration_s <= 2.5 THEN 4 WHEN OLD.duration_s <= 5.0 THEN 5 WHEN OLD.duration_s <= 10.0 THEN 6 WHEN OLD.duration_s <= 25.0 THEN 7 WHEN OLD.duration_s <= 60.0 THEN 8 WHEN OLD.duration_s <= 120.0 THEN 9 WHEN OLD.duration_s <= 300.0 THEN 10 WHEN OLD.duration_s <= 600.0 THEN 11 ELSE 12 END;
  UPDATE layer_failures SET count = count - 1
    WHERE OLD.status = 'failed' AND layer = OLD.layer;

  INSERT INTO layer_durations (layer, bucket, count, micros)
    SELECT NEW.layer, CASE WHEN NEW.duration_s <= 0.1 THEN 0 WHEN NEW.duration_s <= 0.25 THEN 1 WHEN NEW.duration_s <= 0.5 THEN 2 WHEN NEW.duration_s <= 1.0 THEN 3 WHEN NEW.duration_s <= 2.5 THEN 4 WHEN NEW.duration_s <= 5.0 THEN 5 WHEN NEW.duration_s <= 10.0 THEN 6 WHEN NEW.duration_s <= 25.0 THEN 7 WHEN NEW.duration_s <= 60.0 THEN 8 WHEN NEW.duration_s <= 120.0 THEN 9 WHEN NEW.duration_s <= 300.0 THEN 10 WHEN NEW.duration_s <= 600.0 THEN 11 ELSE 12 END, 1, CAST(round(NEW.duration_s * 1000000) AS INTEGER)
    WHERE NEW.status = 'completed' AND NEW.duration_s IS NOT NULL
    ON CONFLICT (layer, bucket) DO UPDATE
    SET count = count + 1, micros = micros + excluded.micros;
  INSERT INTO layer_failures (layer, count) SELECT NEW.layer, 1 WHERE NEW.status = 'failed'
    ON CONFLICT (layer) DO UPDATE SET count = count + 1;
END;
DELETE FROM "sqlite_sequence";
COMMIT;
