-- Enrollments and the certificates of completed ones.
-- Portable SQL (SQLite and PostgreSQL): TEXT ids (UUIDv7) and timestamps (fixed-width
-- RFC 3339, sortable), BIGINT numbers, DOUBLE PRECISION percentages.
-- Courses and users belong to other contexts, so their ids are plain columns, not foreign keys.

CREATE TABLE enrollments (
    id                  TEXT             NOT NULL PRIMARY KEY,
    user_id             TEXT             NOT NULL,
    course_id           TEXT             NOT NULL,
    status              TEXT             NOT NULL,
    progress_percentage DOUBLE PRECISION NOT NULL,
    invited_by          TEXT,
    enrolled_at         TEXT             NOT NULL,
    completed_at        TEXT,
    dropped_at          TEXT,
    drop_reason         TEXT,
    updated_at          TEXT             NOT NULL,
    -- Bumped by every save; a save that finds another version lost a race and changes nothing.
    version             BIGINT           NOT NULL,
    CONSTRAINT enrollments_status_known CHECK (status IN ('active', 'completed', 'dropped')),
    CONSTRAINT enrollments_progress_range CHECK (progress_percentage >= 0 AND progress_percentage <= 100)
);
-- One active enrollment per (user, course): a second one is `AlreadyEnrolled`.
CREATE UNIQUE INDEX enrollments_one_active ON enrollments (user_id, course_id) WHERE status = 'active';
CREATE INDEX enrollments_course_status ON enrollments (course_id, status);
CREATE INDEX enrollments_user ON enrollments (user_id, enrolled_at);

-- One certificate per completed enrollment, found by its public verification code.
CREATE TABLE certificates (
    id                TEXT NOT NULL PRIMARY KEY,
    enrollment_id     TEXT NOT NULL REFERENCES enrollments (id),
    user_id           TEXT NOT NULL,
    course_id         TEXT NOT NULL,
    verification_code TEXT NOT NULL,
    issued_at         TEXT NOT NULL,
    CONSTRAINT certificates_one_per_enrollment UNIQUE (enrollment_id),
    CONSTRAINT certificates_code_unique UNIQUE (verification_code)
);
CREATE INDEX certificates_user ON certificates (user_id, issued_at);
