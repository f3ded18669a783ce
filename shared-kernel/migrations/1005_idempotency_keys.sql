-- Idempotency keys of POST requests (`Idempotency-Key`): written in the command's own
-- transaction, so a key exists iff the request's change committed; the response is stored right
-- after, and a retry with the same key and body gets it back. Keys expire after 24 hours.
CREATE TABLE idempotency_keys (
    user_id         TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    request_hash    TEXT   NOT NULL,
    status          BIGINT,
    location        TEXT,
    response        TEXT,
    created_at      BIGINT NOT NULL,
    CONSTRAINT idempotency_keys_pk PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
