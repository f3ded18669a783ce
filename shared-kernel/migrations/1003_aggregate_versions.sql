-- Each aggregate's events form a sequence: version 1, 2, … in the order their transactions
-- committed. The unique index makes two concurrent transactions that give an aggregate the same
-- version conflict (the later one runs again), so an effect never sorts before its cause.
ALTER TABLE domain_event_log ADD COLUMN aggregate_version BIGINT NOT NULL DEFAULT 0;

UPDATE domain_event_log SET aggregate_version = (
    SELECT COUNT(*) FROM domain_event_log AS earlier
    WHERE earlier.aggregate_type = domain_event_log.aggregate_type
      AND earlier.aggregate_id = domain_event_log.aggregate_id
      AND (earlier.occurred_at < domain_event_log.occurred_at
           OR (earlier.occurred_at = domain_event_log.occurred_at AND earlier.id <= domain_event_log.id))
);

CREATE UNIQUE INDEX domain_event_log_aggregate_version
    ON domain_event_log (aggregate_type, aggregate_id, aggregate_version);
