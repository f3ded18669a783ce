//! Attempts and their answers.

use std::collections::BTreeSet;

use shared_kernel::sqlx::AnyConnection;
use shared_kernel::{AssessmentId, AttemptId, CourseId, EnrollmentId, QuestionId, UserId, to_db_text};
use sqlx::FromRow;

use super::{corrupt, count, json, optional_time, time, to_json};
use crate::domain::{Answer, Attempt, AttemptParts, AttemptStatus, Response};
use crate::error::AssessmentError;

/// The partial unique index allowing one attempt in progress per (assessment, learner).
const ONE_IN_PROGRESS: &str = "assessment_attempts_one_in_progress";
/// The unique attempt numbers per (assessment, learner).
const NUMBER_UNIQUE: &str = "assessment_attempts_number_unique";

/// `SELECT <every attempt column> FROM assessment_attempts t <rest>`, as a literal.
macro_rules! select_attempts {
    ($rest:literal) => {
        concat!(
            "SELECT t.id, t.assessment_id, t.user_id, t.enrollment_id, t.attempt_number, t.status, t.started_at, ",
            "t.submitted_at, t.graded_at, t.graded_by, t.score, t.max_score, t.passed, t.version ",
            "FROM assessment_attempts t ",
            $rest
        )
    };
}

#[derive(FromRow)]
struct AttemptRow {
    id: String,
    assessment_id: String,
    user_id: String,
    enrollment_id: String,
    attempt_number: i64,
    status: String,
    started_at: String,
    submitted_at: Option<String>,
    graded_at: Option<String>,
    graded_by: Option<String>,
    score: Option<i64>,
    max_score: i64,
    passed: Option<i64>,
    version: i64,
}

#[derive(FromRow)]
struct AnswerRow {
    question_id: String,
    choices: Option<String>,
    text_response: Option<String>,
    points: Option<i64>,
    max_points: i64,
    feedback: Option<String>,
    graded_by: Option<String>,
    graded_at: Option<String>,
}

impl AnswerRow {
    fn into_answer(self, attempt: &str) -> Result<Answer, AssessmentError> {
        let response = match (self.choices.as_deref(), self.text_response) {
            (Some(choices), None) => Some(Response::Choices(json::<BTreeSet<usize>>(attempt, Some(choices))?)),
            (None, Some(text)) => Some(Response::Text(text)),
            (None, None) => None,
            (Some(_), Some(_)) => return Err(corrupt(attempt, "an answer with both choices and a text")),
        };
        Ok(Answer {
            question_id: QuestionId::parse(&self.question_id).map_err(|e| corrupt(attempt, e))?,
            response,
            points: self.points.map(|p| count(attempt, p)).transpose()?,
            max_points: count(attempt, self.max_points)?,
            feedback: self.feedback,
            graded_by: self
                .graded_by
                .as_deref()
                .map(UserId::parse)
                .transpose()
                .map_err(|e| corrupt(attempt, e))?,
            graded_at: optional_time(attempt, self.graded_at.as_deref())?,
        })
    }
}

impl AttemptRow {
    fn into_attempt(self, answers: Vec<AnswerRow>) -> Result<Attempt, AssessmentError> {
        let id = self.id.as_str();
        let answers = answers
            .into_iter()
            .map(|a| a.into_answer(id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Attempt::from_parts(AttemptParts {
            id: AttemptId::parse(id).map_err(|e| corrupt(id, e))?,
            assessment_id: AssessmentId::parse(&self.assessment_id).map_err(|e| corrupt(id, e))?,
            user_id: UserId::parse(&self.user_id).map_err(|e| corrupt(id, e))?,
            enrollment_id: EnrollmentId::parse(&self.enrollment_id).map_err(|e| corrupt(id, e))?,
            attempt_number: count(id, self.attempt_number)?,
            status: AttemptStatus::from_stored(&self.status)
                .ok_or_else(|| corrupt(id, format!("unknown status `{}`", self.status)))?,
            started_at: time(id, &self.started_at)?,
            submitted_at: optional_time(id, self.submitted_at.as_deref())?,
            graded_at: optional_time(id, self.graded_at.as_deref())?,
            graded_by: self
                .graded_by
                .as_deref()
                .map(UserId::parse)
                .transpose()
                .map_err(|e| corrupt(id, e))?,
            score: self.score.map(|s| count(id, s)).transpose()?,
            max_score: count(id, self.max_score)?,
            passed: self.passed.map(|p| p != 0),
            answers,
            version: self.version,
        }))
    }
}

/// How many attempts the learner has made at the assessment, and whether one is in progress, in
/// one statement.
#[tracing::instrument(name = "tally a learner's attempts", skip(conn))]
pub(crate) async fn attempt_tally(
    conn: &mut AnyConnection,
    assessment: AssessmentId,
    user: UserId,
) -> Result<(u32, bool), AssessmentError> {
    let (taken, in_progress): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'in_progress' THEN 1 ELSE 0 END), 0) \
         FROM assessment_attempts WHERE assessment_id = $1 AND user_id = $2",
    )
    .bind(assessment.to_string())
    .bind(user.to_string())
    .fetch_one(conn)
    .await?;
    Ok((count(&assessment.to_string(), taken)?, in_progress > 0))
}

async fn answers_of(conn: &mut AnyConnection, attempt: &str) -> Result<Vec<AnswerRow>, AssessmentError> {
    Ok(sqlx::query_as(
        "SELECT question_id, choices, text_response, points, max_points, feedback, graded_by, graded_at \
         FROM assessment_answers WHERE attempt_id = $1 ORDER BY position",
    )
    .bind(attempt.to_owned())
    .fetch_all(conn)
    .await?)
}

async fn with_answers(conn: &mut AnyConnection, rows: Vec<AttemptRow>) -> Result<Vec<Attempt>, AssessmentError> {
    let mut attempts = Vec::with_capacity(rows.len());
    for row in rows {
        let answers = answers_of(conn, &row.id).await?;
        attempts.push(row.into_attempt(answers)?);
    }
    Ok(attempts)
}

/// Loads an attempt with its answers.
#[tracing::instrument(name = "load an attempt", skip(conn))]
pub(crate) async fn load_attempt(conn: &mut AnyConnection, id: AttemptId) -> Result<Option<Attempt>, AssessmentError> {
    let row: Option<AttemptRow> = sqlx::query_as(select_attempts!("WHERE t.id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(with_answers(conn, vec![row]).await?.pop()),
        None => Ok(None),
    }
}

/// Loads an attempt, or fails with [`AssessmentError::AttemptNotFound`].
pub(crate) async fn get_attempt(conn: &mut AnyConnection, id: AttemptId) -> Result<Attempt, AssessmentError> {
    load_attempt(conn, id)
        .await?
        .ok_or(AssessmentError::AttemptNotFound(id))
}

/// A learner's attempts at an assessment, oldest first.
#[tracing::instrument(name = "list a learner's attempts", skip(conn))]
pub(crate) async fn attempts_of(
    conn: &mut AnyConnection,
    assessment: AssessmentId,
    user: UserId,
) -> Result<Vec<Attempt>, AssessmentError> {
    let rows: Vec<AttemptRow> = sqlx::query_as(select_attempts!(
        "WHERE t.assessment_id = $1 AND t.user_id = $2 ORDER BY t.attempt_number"
    ))
    .bind(assessment.to_string())
    .bind(user.to_string())
    .fetch_all(&mut *conn)
    .await?;
    with_answers(conn, rows).await
}

/// A course's submitted attempts waiting for grading, oldest submission first.
#[tracing::instrument(name = "list a course's grading queue", skip(conn))]
pub(crate) async fn awaiting_grading(
    conn: &mut AnyConnection,
    course: CourseId,
) -> Result<Vec<Attempt>, AssessmentError> {
    let rows: Vec<AttemptRow> = sqlx::query_as(select_attempts!(
        "JOIN assessments s ON s.id = t.assessment_id \
         WHERE s.course_id = $1 AND t.status = 'submitted' ORDER BY t.submitted_at, t.id"
    ))
    .bind(course.to_string())
    .fetch_all(&mut *conn)
    .await?;
    with_answers(conn, rows).await
}

/// A write that hit the one-in-progress index or the attempt numbers (two racing starts) means
/// the learner already has an attempt in progress.
fn in_progress_or(e: sqlx::Error, attempt: &Attempt) -> AssessmentError {
    match &e {
        sqlx::Error::Database(db)
            if db.is_unique_violation()
                && db
                    .constraint()
                    .is_none_or(|c| c == ONE_IN_PROGRESS || c == NUMBER_UNIQUE) =>
        {
            AssessmentError::AttemptInProgress {
                assessment: attempt.assessment_id(),
                user: attempt.user_id(),
            }
        }
        _ => AssessmentError::Database(e),
    }
}

/// Stores a new attempt; a second one in progress is [`AssessmentError::AttemptInProgress`].
#[tracing::instrument(name = "insert an attempt", skip(conn, attempt), fields(attempt = %attempt.id()))]
pub(crate) async fn insert_attempt(conn: &mut AnyConnection, attempt: &Attempt) -> Result<(), AssessmentError> {
    sqlx::query(
        "INSERT INTO assessment_attempts (id, assessment_id, user_id, enrollment_id, attempt_number, status, \
         started_at, submitted_at, graded_at, graded_by, score, max_score, passed, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(attempt.id().to_string())
    .bind(attempt.assessment_id().to_string())
    .bind(attempt.user_id().to_string())
    .bind(attempt.enrollment_id().to_string())
    .bind(i64::from(attempt.attempt_number()))
    .bind(attempt.status().as_str())
    .bind(to_db_text(attempt.started_at()))
    .bind(attempt.submitted_at().map(to_db_text))
    .bind(attempt.graded_at().map(to_db_text))
    .bind(attempt.graded_by().map(|u| u.to_string()))
    .bind(attempt.score().map(i64::from))
    .bind(i64::from(attempt.max_score()))
    .bind(attempt.passed().map(i64::from))
    .bind(attempt.version())
    .execute(conn)
    .await
    .map_err(|e| in_progress_or(e, attempt))?;
    Ok(())
}

/// Saves an attempt's state over the version it was loaded at and bumps the version, so of two
/// commands racing on one attempt (a double submit, two graders) only the first wins
/// ([`AssessmentError::ConcurrentChange`] for the second). Answers are written separately.
#[tracing::instrument(name = "save an attempt", skip(conn, attempt), fields(attempt = %attempt.id()))]
pub(crate) async fn save_attempt(conn: &mut AnyConnection, attempt: &mut Attempt) -> Result<(), AssessmentError> {
    let updated = sqlx::query(
        "UPDATE assessment_attempts SET status = $1, submitted_at = $2, graded_at = $3, graded_by = $4, score = $5, \
         max_score = $6, passed = $7, version = version + 1 WHERE id = $8 AND version = $9",
    )
    .bind(attempt.status().as_str())
    .bind(attempt.submitted_at().map(to_db_text))
    .bind(attempt.graded_at().map(to_db_text))
    .bind(attempt.graded_by().map(|u| u.to_string()))
    .bind(attempt.score().map(i64::from))
    .bind(i64::from(attempt.max_score()))
    .bind(attempt.passed().map(i64::from))
    .bind(attempt.id().to_string())
    .bind(attempt.version())
    .execute(conn)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(AssessmentError::ConcurrentChange(format!("attempt {}", attempt.id())));
    }
    attempt.saved();
    Ok(())
}

fn response_columns(answer: &Answer) -> (Option<String>, Option<String>) {
    match answer.response() {
        Some(Response::Choices(chosen)) => (Some(to_json(chosen)), None),
        Some(Response::Text(text)) => (None, Some(text.clone())),
        None => (None, None),
    }
}

/// Stores a just-submitted attempt's answers, one per question.
#[tracing::instrument(name = "insert an attempt's answers", skip(conn, attempt), fields(attempt = %attempt.id()))]
pub(crate) async fn insert_answers(conn: &mut AnyConnection, attempt: &Attempt) -> Result<(), AssessmentError> {
    for (position, answer) in (1_i64..).zip(attempt.answers()) {
        let (choices, text) = response_columns(answer);
        sqlx::query(
            "INSERT INTO assessment_answers (attempt_id, question_id, position, choices, text_response, points, \
             max_points, feedback, graded_by, graded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(attempt.id().to_string())
        .bind(answer.question_id().to_string())
        .bind(position)
        .bind(choices)
        .bind(text)
        .bind(answer.points().map(i64::from))
        .bind(i64::from(answer.max_points()))
        .bind(answer.feedback().map(str::to_owned))
        .bind(answer.graded_by().map(|u| u.to_string()))
        .bind(answer.graded_at().map(to_db_text))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Stores the grading of one answer.
#[tracing::instrument(name = "save a graded answer", skip(conn, attempt), fields(attempt = %attempt.id()))]
pub(crate) async fn update_answer(
    conn: &mut AnyConnection,
    attempt: &Attempt,
    question: QuestionId,
) -> Result<(), AssessmentError> {
    let answer = attempt
        .answers()
        .iter()
        .find(|a| a.question_id() == question)
        .ok_or(AssessmentError::UnknownQuestion(question))?;
    sqlx::query(
        "UPDATE assessment_answers SET points = $1, feedback = $2, graded_by = $3, graded_at = $4 \
         WHERE attempt_id = $5 AND question_id = $6",
    )
    .bind(answer.points().map(i64::from))
    .bind(answer.feedback().map(str::to_owned))
    .bind(answer.graded_by().map(|u| u.to_string()))
    .bind(answer.graded_at().map(to_db_text))
    .bind(attempt.id().to_string())
    .bind(question.to_string())
    .execute(conn)
    .await?;
    Ok(())
}
