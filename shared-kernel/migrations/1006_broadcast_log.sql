-- The broadcast log: each committed event's broadcast, one row per channel, written in the
-- event's own transaction (the outbox again), so a broadcast exists iff its event committed.
-- Every `serve` process tails it to its live subscribers; a client resumes from its position.
--
-- `position` is what clients see (SSE `id:`). On SQLite it is taken in the writing transaction
-- (one writer: positions follow commit order). On PostgreSQL a row is written without one and
-- numbered after its commit by the sequencer (one transaction at a time, holding the
-- `broadcast_sequence` row), so a position is never visible before a smaller one: a tailer that
-- read past position p can never later find a committed row below p.
CREATE TABLE broadcast_log (
    id         TEXT   NOT NULL PRIMARY KEY,
    position   BIGINT UNIQUE,
    channel    TEXT   NOT NULL,
    event      TEXT   NOT NULL,
    event_id   TEXT   NOT NULL,
    data       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX broadcast_log_unsequenced ON broadcast_log (id) WHERE position IS NULL;
CREATE INDEX broadcast_log_channel ON broadcast_log (channel, position);
CREATE INDEX broadcast_log_created ON broadcast_log (created_at);

-- The last position given and the last one pruned (older resumes get a `reset`).
CREATE TABLE broadcast_sequence (
    id             BIGINT NOT NULL PRIMARY KEY,
    last_position  BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL
);
INSERT INTO broadcast_sequence (id, last_position, pruned_through) VALUES (1, 0, 0);
