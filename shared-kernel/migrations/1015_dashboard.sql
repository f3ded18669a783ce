-- The events dashboard (`GET /admin`).
--
-- Queue depth over time: `queue monitor`'s figures (Queue::stats) sampled once a minute per queue
-- by every running worker's maintenance task. The first sample of a minute wins (the primary key
-- and ON CONFLICT DO NOTHING), so several workers or nodes write one row per queue and minute.
-- Samples older than a day are deleted by the same task.
CREATE TABLE queue_depth_samples (
    queue          TEXT   NOT NULL,
    minute         BIGINT NOT NULL, -- the minute's start, microseconds since the Unix epoch
    depth          BIGINT NOT NULL,
    ready          BIGINT NOT NULL,
    failed         BIGINT NOT NULL,
    oldest_age_ms  BIGINT,
    PRIMARY KEY (queue, minute)
);
CREATE INDEX queue_depth_samples_minute ON queue_depth_samples (minute);

-- Recent events and the last hour's counts by name and minute read the audit log by time.
CREATE INDEX domain_event_log_occurred ON domain_event_log (occurred_at, event_id);
