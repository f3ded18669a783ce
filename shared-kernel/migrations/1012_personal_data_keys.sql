-- Crypto-shredding: one random key per person whose personal data an audited event holds. The
-- audit log keeps those fields sealed with the person's key (the row hash covers the sealed
-- text); `enteraksi user erase` deletes the key (`secret` NULL, `erased_at` set), after which
-- they read as `[erased]` everywhere while the chain still verifies.
CREATE TABLE user_keys (
    user_id    TEXT NOT NULL PRIMARY KEY,
    secret     TEXT,
    created_at TEXT NOT NULL,
    erased_at  TEXT
);
