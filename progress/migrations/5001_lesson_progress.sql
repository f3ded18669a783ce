-- A learner's progress through each lesson of an enrollment.
-- Portable SQL (SQLite and PostgreSQL): TEXT ids (UUIDv7) and timestamps (fixed-width
-- RFC 3339, sortable), BIGINT numbers, DOUBLE PRECISION percentages.
-- Enrollments and lessons belong to other contexts, so their ids are plain columns.

CREATE TABLE lesson_progress (
    enrollment_id       TEXT             NOT NULL,
    lesson_id           TEXT             NOT NULL,
    progress_percentage DOUBLE PRECISION NOT NULL,
    time_spent_seconds  BIGINT           NOT NULL,
    completed_at        TEXT,
    started_at          TEXT             NOT NULL,
    updated_at          TEXT             NOT NULL,
    PRIMARY KEY (enrollment_id, lesson_id),
    CONSTRAINT lesson_progress_range CHECK (progress_percentage >= 0 AND progress_percentage <= 100),
    CONSTRAINT lesson_progress_time CHECK (time_spent_seconds >= 0)
);
-- Course progress counts an enrollment's completed lessons.
CREATE INDEX lesson_progress_completed ON lesson_progress (enrollment_id, completed_at);
