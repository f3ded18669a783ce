-- Courses and their ordered lessons.
-- Portable SQL (SQLite and PostgreSQL): TEXT ids (UUIDv7) and timestamps (fixed-width
-- RFC 3339, sortable), BIGINT numbers.

CREATE TABLE courses (
    id            TEXT   NOT NULL PRIMARY KEY,
    title         TEXT   NOT NULL,
    description   TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    instructor_id TEXT   NOT NULL,
    created_at    TEXT   NOT NULL,
    updated_at    TEXT   NOT NULL,
    -- Bumped by every save; a save that finds another version lost a race and changes nothing.
    version       BIGINT NOT NULL,
    CONSTRAINT courses_status_known CHECK (status IN ('draft', 'published', 'archived'))
);
CREATE INDEX courses_status ON courses (status, created_at);
CREATE INDEX courses_instructor ON courses (instructor_id);

-- Positions run 1..n within a course. They are not a unique key: reordering rewrites them
-- one row at a time, and the aggregate already guarantees they form a sequence.
CREATE TABLE lessons (
    id            TEXT   NOT NULL PRIMARY KEY,
    course_id     TEXT   NOT NULL REFERENCES courses (id),
    title         TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    assessment_id TEXT,
    position      BIGINT NOT NULL,
    created_at    TEXT   NOT NULL,
    CONSTRAINT lessons_kind_known CHECK (kind IN ('content', 'assessment')),
    CONSTRAINT lessons_assessment_only_on_assessment_lessons CHECK (assessment_id IS NULL OR kind = 'assessment')
);
CREATE INDEX lessons_course_position ON lessons (course_id, position);
