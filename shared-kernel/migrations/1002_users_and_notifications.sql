-- The people events refer to, and the notification channels' storage.

CREATE TABLE users (
    id         TEXT NOT NULL PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    locale     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT users_email_unique UNIQUE (email)
);

-- The database channel: one row per notification, read or unread.
CREATE TABLE notifications (
    id              TEXT NOT NULL PRIMARY KEY,
    notifiable_id   TEXT NOT NULL,
    type            TEXT NOT NULL,
    data            TEXT NOT NULL,
    read_at         TEXT,
    created_at      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    CONSTRAINT notifications_idempotency_unique UNIQUE (idempotency_key)
);
CREATE INDEX notifications_notifiable ON notifications (notifiable_id, created_at);

-- External deliveries (mail) already made, so a retried job sends nothing twice.
CREATE TABLE notification_deliveries (
    idempotency_key TEXT NOT NULL PRIMARY KEY,
    channel         TEXT NOT NULL,
    notifiable_id   TEXT NOT NULL,
    type            TEXT NOT NULL,
    delivered_at    TEXT NOT NULL
);
