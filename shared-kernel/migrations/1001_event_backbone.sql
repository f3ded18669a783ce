-- The event backbone: audit log, outbox jobs and failed jobs.
-- Portable SQL (SQLite and PostgreSQL): TEXT ids (UUIDv7) and timestamps
-- (fixed-width RFC 3339, sortable), BIGINT numbers, JSON stored as TEXT.

CREATE TABLE domain_event_log (
    id             TEXT   NOT NULL PRIMARY KEY,
    event_id       TEXT   NOT NULL UNIQUE,
    event_name     TEXT   NOT NULL,
    aggregate_type TEXT   NOT NULL,
    aggregate_id   TEXT   NOT NULL,
    actor_id       TEXT,
    metadata       TEXT   NOT NULL,
    occurred_at    TEXT   NOT NULL,
    created_at     TEXT   NOT NULL,
    correlation_id TEXT   NOT NULL,
    causation_id   TEXT
);
CREATE INDEX domain_event_log_aggregate ON domain_event_log (aggregate_type, aggregate_id, occurred_at);
CREATE INDEX domain_event_log_name ON domain_event_log (event_name, occurred_at);
CREATE INDEX domain_event_log_actor ON domain_event_log (actor_id);
CREATE INDEX domain_event_log_correlation ON domain_event_log (correlation_id, occurred_at);

-- One row per (event, queued listener): the transactional outbox and the queue in one.
-- A claimed job's available_at is its lease end, so "claimable" is simply available_at <= now.
CREATE TABLE jobs (
    id             TEXT   NOT NULL PRIMARY KEY,
    queue          TEXT   NOT NULL,
    event_id       TEXT   NOT NULL,
    event_name     TEXT   NOT NULL,
    listener       TEXT   NOT NULL,
    payload        TEXT   NOT NULL,
    attempts       BIGINT NOT NULL DEFAULT 0,
    max_tries      BIGINT NOT NULL,
    available_at   BIGINT NOT NULL,
    reserved_until BIGINT,
    reserved_by    TEXT,
    last_error     TEXT,
    created_at     BIGINT NOT NULL,
    CONSTRAINT jobs_event_listener_unique UNIQUE (event_id, listener)
);
CREATE INDEX jobs_claim ON jobs (queue, available_at, id);

CREATE TABLE failed_jobs (
    id         TEXT   NOT NULL PRIMARY KEY,
    queue      TEXT   NOT NULL,
    event_id   TEXT   NOT NULL,
    event_name TEXT   NOT NULL,
    listener   TEXT   NOT NULL,
    payload    TEXT   NOT NULL,
    exception  TEXT   NOT NULL,
    attempts   BIGINT NOT NULL,
    failed_at  TEXT   NOT NULL
);
CREATE INDEX failed_jobs_failed_at ON failed_jobs (failed_at);
