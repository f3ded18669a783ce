-- Tamper evidence: each audit row carries a SHA-256 over its content and the hash of its
-- aggregate's previous row (a chain per aggregate, in version order, i.e. commit order), so
-- `enteraksi audit verify` finds a row that was changed, removed or inserted. Rows written
-- before this migration have none and are not verified.
ALTER TABLE domain_event_log ADD COLUMN row_hash TEXT;
