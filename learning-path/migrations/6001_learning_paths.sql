-- Learning paths (ordered lists of courses) and learners' enrollments in them.
-- Portable SQL (SQLite and PostgreSQL): TEXT ids (UUIDv7) and timestamps (fixed-width
-- RFC 3339, sortable), BIGINT numbers. Courses and users belong to other contexts, so their ids
-- are plain columns, not foreign keys.

CREATE TABLE learning_paths (
    id           TEXT   NOT NULL PRIMARY KEY,
    owner_id     TEXT   NOT NULL,
    title        TEXT   NOT NULL,
    description  TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    published_at TEXT,
    created_at   TEXT   NOT NULL,
    updated_at   TEXT   NOT NULL,
    -- Bumped by every save; a save that finds another version lost a race and changes nothing.
    version      BIGINT NOT NULL,
    CONSTRAINT learning_paths_status_known CHECK (status IN ('draft', 'published'))
);
CREATE INDEX learning_paths_owner ON learning_paths (owner_id, created_at);

-- A path's courses, in order (position from 0); a course appears once per path.
CREATE TABLE learning_path_courses (
    path_id   TEXT   NOT NULL REFERENCES learning_paths (id),
    position  BIGINT NOT NULL,
    course_id TEXT   NOT NULL,
    CONSTRAINT learning_path_courses_pk PRIMARY KEY (path_id, position),
    CONSTRAINT learning_path_courses_once UNIQUE (path_id, course_id)
);

-- A learner's way through a path: the course they are on (`current_course_id`, at `position`)
-- until they complete the last one or drop out.
CREATE TABLE path_enrollments (
    id                TEXT   NOT NULL PRIMARY KEY,
    path_id           TEXT   NOT NULL REFERENCES learning_paths (id),
    user_id           TEXT   NOT NULL,
    status            TEXT   NOT NULL,
    position          BIGINT NOT NULL,
    current_course_id TEXT,
    enrolled_at       TEXT   NOT NULL,
    completed_at      TEXT,
    dropped_at        TEXT,
    drop_reason       TEXT,
    updated_at        TEXT   NOT NULL,
    version           BIGINT NOT NULL,
    CONSTRAINT path_enrollments_status_known CHECK (status IN ('active', 'completed', 'dropped'))
);
-- One active path enrollment per (user, path): a second one is `AlreadyEnrolled`.
CREATE UNIQUE INDEX path_enrollments_one_active ON path_enrollments (user_id, path_id) WHERE status = 'active';
-- What a completed course advances: the user's active path enrollments on that course.
CREATE INDEX path_enrollments_user_current ON path_enrollments (user_id, current_course_id, status);
CREATE INDEX path_enrollments_user ON path_enrollments (user_id, enrolled_at);
