-- What a user may do, and the API tokens they authenticate with. A token is shown once, when
-- issued; only its SHA-256 hash is stored. Revoking sets revoked_at; a revoked token never
-- authenticates again.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'learner';

CREATE TABLE api_tokens (
    id         TEXT NOT NULL PRIMARY KEY,
    user_id    TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    CONSTRAINT api_tokens_hash_unique UNIQUE (token_hash)
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
