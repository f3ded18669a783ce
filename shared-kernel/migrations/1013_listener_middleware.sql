-- Queued-listener middleware and priorities (portable SQL, SQLite and PostgreSQL).
--
-- jobs.priority: a listener's priority within its queue (1 high, 0 normal, -1 low). The claim
-- takes each (queue, priority) from its own range of the claim index, so a level costs one
-- index range scan and never a sort.
-- jobs.exceptions: failed tries so far (a listener's `max_exceptions` buries after that many);
-- a release by a rate limit or an overlap lock counts neither a try nor an exception.
-- jobs.overlap_key: the key the listener derived from the event when it declares
-- "without overlapping"; NULL otherwise.
ALTER TABLE jobs ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN exceptions BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN overlap_key TEXT;
DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (queue, priority, available_at, id);

-- A rate limit of N runs per interval for one listener: N slots, each holding the queue time of
-- the run that last took it. A run takes the slot used longest ago if that was at least one
-- interval ago (a sliding window: no interval anywhere holds more than N starts).
CREATE TABLE rate_limit_slots (
    limiter TEXT   NOT NULL,
    slot    BIGINT NOT NULL,
    used_at BIGINT NOT NULL,
    PRIMARY KEY (limiter, slot)
);

-- "Without overlapping": one row per (listener, key) while a job holds it, until its holder
-- deletes it or `expires_at` (the holder's lease, renewed with its jobs' leases) passes, so a
-- killed worker's lock frees itself.
CREATE TABLE overlap_locks (
    listener   TEXT   NOT NULL,
    lock_key   TEXT   NOT NULL,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (listener, lock_key)
);
CREATE INDEX overlap_locks_holder ON overlap_locks (holder);

-- A buried job keeps its overlap key, so `queue retry` puts it back under the same lock.
ALTER TABLE failed_jobs ADD COLUMN overlap_key TEXT;
