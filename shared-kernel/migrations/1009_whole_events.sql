-- The audit log keeps whole events: each row's envelope as JSON (meta and every field) and the
-- schema version it was written in, so any event can be rebuilt as its typed value and replayed
-- into a listener. Rows written before this migration have no payload (they cannot be replayed).
ALTER TABLE domain_event_log ADD COLUMN payload TEXT;
ALTER TABLE domain_event_log ADD COLUMN schema_version BIGINT NOT NULL DEFAULT 1;
