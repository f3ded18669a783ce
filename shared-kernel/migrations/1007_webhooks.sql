-- Webhooks: external endpoints that receive events, signed per the Standard Webhooks spec.
-- `events` holds the subscribed event names between commas (`,enrollment.created,course.published,`)
-- so one portable LIKE finds an event's endpoints. `secret` is `whsec_` + base64 of the key; it is
-- needed to sign, so it is stored as is (it is not a password: anyone who can read this table can
-- read the events anyway). Removing an endpoint sets removed_at; its deliveries stay for the record.
CREATE TABLE webhook_endpoints (
    id            TEXT   NOT NULL PRIMARY KEY,
    url           TEXT   NOT NULL,
    events        TEXT   NOT NULL,
    secret        TEXT   NOT NULL,
    allow_private BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT   NOT NULL,
    removed_at    TEXT
);

-- One row per (event, endpoint): the last try's outcome. `status` is `delivered`, `retrying` or
-- `failed`; `response_status` the receiver's HTTP status (NULL when it never answered).
CREATE TABLE webhook_deliveries (
    event_id        TEXT   NOT NULL,
    endpoint_id     TEXT   NOT NULL,
    event_name      TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    response_status BIGINT,
    attempts        BIGINT NOT NULL,
    last_error      TEXT,
    updated_at      TEXT   NOT NULL,
    CONSTRAINT webhook_deliveries_pk PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, updated_at);
