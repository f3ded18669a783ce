-- The delivery ledger: each (event, queued listener) pair the queue delivered (a job
-- acknowledged: its row deleted by a worker, in the same statement or transaction) or that a
-- replay took charge of (enqueued). A replay — by hand or a catch-up listener's — enqueues only
-- pairs it manages to insert here, so a pair is never delivered twice, whether replayed twice
-- or overlapping live traffic. A buried job's pair is removed: `queue retry` brings it back.
CREATE TABLE job_deliveries (
    event_id    TEXT   NOT NULL,
    listener    TEXT   NOT NULL,
    recorded_at BIGINT NOT NULL,
    CONSTRAINT job_deliveries_pk PRIMARY KEY (event_id, listener)
);

-- When each queued listener was first registered (seen by a starting worker), and when the
-- catch-up of a listener registered as catch-up finished replaying the history before it.
CREATE TABLE listener_registrations (
    listener      TEXT NOT NULL PRIMARY KEY,
    first_seen_at TEXT NOT NULL,
    caught_up_at  TEXT
);
