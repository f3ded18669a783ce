-- Assessments with their ordered questions, learners' attempts and their answers.
-- Portable SQL (SQLite and PostgreSQL): TEXT ids (UUIDv7) and timestamps (fixed-width
-- RFC 3339, sortable), BIGINT numbers and flags (0/1), JSON kept as TEXT.
-- Courses, lessons, users and enrollments belong to other contexts, so their ids are plain
-- columns, not foreign keys.

CREATE TABLE assessments (
    id                 TEXT   NOT NULL PRIMARY KEY,
    course_id          TEXT   NOT NULL,
    lesson_id          TEXT,
    title              TEXT   NOT NULL,
    passing_score      BIGINT NOT NULL,
    max_attempts       BIGINT NOT NULL,
    time_limit_minutes BIGINT,
    instructor_id      TEXT   NOT NULL,
    created_at         TEXT   NOT NULL,
    updated_at         TEXT   NOT NULL,
    -- Bumped by every save; a save that finds another version lost a race and changes nothing.
    version            BIGINT NOT NULL,
    CONSTRAINT assessments_passing_score_range CHECK (passing_score >= 0 AND passing_score <= 100),
    CONSTRAINT assessments_max_attempts_positive CHECK (max_attempts >= 1),
    CONSTRAINT assessments_time_limit_positive CHECK (time_limit_minutes IS NULL OR time_limit_minutes >= 1)
);
CREATE INDEX assessments_course ON assessments (course_id);

-- `options` and `correct` are JSON arrays (option texts, correct indices) of multiple-choice
-- questions, NULL for open ones.
CREATE TABLE assessment_questions (
    id            TEXT   NOT NULL PRIMARY KEY,
    assessment_id TEXT   NOT NULL REFERENCES assessments (id),
    position      BIGINT NOT NULL,
    prompt        TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    options       TEXT,
    correct       TEXT,
    points        BIGINT NOT NULL,
    CONSTRAINT assessment_questions_kind_known CHECK (kind IN ('multiple_choice', 'open')),
    CONSTRAINT assessment_questions_points_positive CHECK (points >= 1),
    CONSTRAINT assessment_questions_position_unique UNIQUE (assessment_id, position)
);

CREATE TABLE assessment_attempts (
    id             TEXT   NOT NULL PRIMARY KEY,
    assessment_id  TEXT   NOT NULL REFERENCES assessments (id),
    user_id        TEXT   NOT NULL,
    enrollment_id  TEXT   NOT NULL,
    attempt_number BIGINT NOT NULL,
    status         TEXT   NOT NULL,
    started_at     TEXT   NOT NULL,
    submitted_at   TEXT,
    graded_at      TEXT,
    graded_by      TEXT,
    score          BIGINT,
    max_score      BIGINT NOT NULL,
    passed         BIGINT,
    version        BIGINT NOT NULL,
    CONSTRAINT assessment_attempts_status_known CHECK (status IN ('in_progress', 'submitted', 'graded')),
    -- Two racing starts compute the same number: the second is refused, never a duplicate.
    CONSTRAINT assessment_attempts_number_unique UNIQUE (assessment_id, user_id, attempt_number)
);
-- One attempt in progress per (assessment, learner): a second one is `AttemptInProgress`.
CREATE UNIQUE INDEX assessment_attempts_one_in_progress
    ON assessment_attempts (assessment_id, user_id) WHERE status = 'in_progress';
-- The instructor's grading queue.
CREATE INDEX assessment_attempts_status ON assessment_attempts (status, submitted_at);

-- One answer per question of a submitted attempt. `choices` is a JSON array of chosen option
-- indices; `text_response` an open answer; both NULL for an unanswered question. `points` is
-- NULL while an open answer waits for the instructor.
CREATE TABLE assessment_answers (
    attempt_id    TEXT   NOT NULL REFERENCES assessment_attempts (id),
    question_id   TEXT   NOT NULL,
    position      BIGINT NOT NULL,
    choices       TEXT,
    text_response TEXT,
    points        BIGINT,
    max_points    BIGINT NOT NULL,
    feedback      TEXT,
    graded_by     TEXT,
    graded_at     TEXT,
    PRIMARY KEY (attempt_id, question_id)
);
