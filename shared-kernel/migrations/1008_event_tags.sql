-- Tags of events (`course:{id}`, `user:{id}`, …), as the events declare them
-- (`DomainEvent::tags`): written in the event's own transaction with its audit row and jobs, so
-- `audit --tag`, `queue failed --tag` and `GET /api/events?tag=` find an event's rows by them.
CREATE TABLE event_tags (
    tag      TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (tag, event_id)
);
CREATE INDEX event_tags_event ON event_tags (event_id);
