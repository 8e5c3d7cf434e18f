-- A SQLite store written by applyflow at schema version 2 (before job sources and history).
PRAGMA user_version = 2;
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
CREATE TABLE job_outputs (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    layer TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, layer)
);
INSERT INTO "job_outputs" VALUES('ac17c6147803b08d','extract','{"output":{"ok":true},"input_hash":"h1","model":"offline","cost_usd":0.0,"at":"2026-10-01T09:00:00Z"}');
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
    run_id TEXT
);
INSERT INTO "jobs" VALUES('ac17c6147803b08d','greenhouse:nimbus','4012','https://boards.greenhouse.io/nimbus/jobs/4012','Senior Backend Engineer','Nimbus Works','Berlin, Germany','Build payment services.','cb2c5eb6655ea39c',1790845200000000,1790845200000000,1790845320000000,'ready',NULL,NULL,0,NULL,NULL,NULL,NULL);
INSERT INTO "jobs" VALUES('d102ef09bf6bacba','file:jobs.json',NULL,NULL,'Data Analyst','Tulpen Data B.V.','Utrecht','Crunch numbers.','eb75a5532a9adcc0',NULL,1790845200000000,1790845200000000,'new',NULL,NULL,0,NULL,NULL,NULL,NULL);
INSERT INTO "jobs" VALUES('b0b8edee1621de19','lever:acme','5ac2-1','https://jobs.lever.co/acme/5ac2-1','Platform Engineer','Acme Rail','Lisbon','Run trains.','34c9293123f77e68',NULL,1790845200000000,1790931600000000,'applied',1790931600000000,NULL,0,NULL,NULL,NULL,NULL);
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
CREATE INDEX jobs_status_ingested ON jobs (status, ingested_at);
CREATE INDEX jobs_updated ON jobs (updated_at);
CREATE INDEX jobs_applied ON jobs (applied_at);
CREATE INDEX jobs_fit ON jobs (fit);
CREATE INDEX runs_started ON runs (started_at);
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
DELETE FROM "sqlite_sequence";
COMMIT;
