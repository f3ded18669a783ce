//! Assessments and their questions.

use course::Title;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::{AssessmentId, CourseId, LessonId, QuestionId, UserId, to_db_text};
use sqlx::FromRow;

use super::{corrupt, json, time, to_json};
use crate::domain::{Assessment, AssessmentParts, MaxAttempts, PassingScore, Question, QuestionKind, TimeLimit};
use crate::error::AssessmentError;

#[derive(FromRow)]
struct AssessmentRow {
    id: String,
    course_id: String,
    lesson_id: Option<String>,
    title: String,
    passing_score: i64,
    max_attempts: i64,
    time_limit_minutes: Option<i64>,
    instructor_id: String,
    created_at: String,
    updated_at: String,
    version: i64,
}

#[derive(FromRow)]
struct QuestionRow {
    id: String,
    prompt: String,
    kind: String,
    options: Option<String>,
    correct: Option<String>,
    points: i64,
}

impl AssessmentRow {
    fn into_assessment(self, questions: Vec<QuestionRow>) -> Result<Assessment, AssessmentError> {
        let id = self.id.as_str();
        let questions = questions
            .into_iter()
            .map(QuestionRow::into_question)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Assessment::from_parts(AssessmentParts {
            id: AssessmentId::parse(id).map_err(|e| corrupt(id, e))?,
            course_id: CourseId::parse(&self.course_id).map_err(|e| corrupt(id, e))?,
            lesson_id: self
                .lesson_id
                .as_deref()
                .map(LessonId::parse)
                .transpose()
                .map_err(|e| corrupt(id, e))?,
            title: Title::parse(&self.title).map_err(|e| corrupt(id, e))?,
            passing_score: PassingScore::new(self.passing_score).map_err(|e| corrupt(id, e))?,
            max_attempts: MaxAttempts::new(self.max_attempts).map_err(|e| corrupt(id, e))?,
            time_limit: self
                .time_limit_minutes
                .map(TimeLimit::minutes)
                .transpose()
                .map_err(|e| corrupt(id, e))?,
            instructor_id: UserId::parse(&self.instructor_id).map_err(|e| corrupt(id, e))?,
            questions,
            created_at: time(id, &self.created_at)?,
            updated_at: time(id, &self.updated_at)?,
            version: self.version,
        }))
    }
}

impl QuestionRow {
    fn into_question(self) -> Result<Question, AssessmentError> {
        let id = self.id.as_str();
        let kind = match self.kind.as_str() {
            "open" => QuestionKind::Open,
            "multiple_choice" => QuestionKind::MultipleChoice {
                options: json(id, self.options.as_deref())?,
                correct: json(id, self.correct.as_deref())?,
            },
            other => return Err(corrupt(id, format!("unknown question kind `{other}`"))),
        };
        Question::new(
            QuestionId::parse(id).map_err(|e| corrupt(id, e))?,
            &self.prompt,
            kind,
            self.points,
        )
        .map_err(|e| corrupt(id, e))
    }
}

/// Loads an assessment with its questions in order.
#[tracing::instrument(name = "load an assessment", skip(conn))]
pub(crate) async fn load_assessment(
    conn: &mut AnyConnection,
    id: AssessmentId,
) -> Result<Option<Assessment>, AssessmentError> {
    let row: Option<AssessmentRow> = sqlx::query_as(
        "SELECT id, course_id, lesson_id, title, passing_score, max_attempts, time_limit_minutes, instructor_id, \
         created_at, updated_at, version FROM assessments WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let questions: Vec<QuestionRow> = sqlx::query_as(
        "SELECT id, prompt, kind, options, correct, points FROM assessment_questions \
         WHERE assessment_id = $1 ORDER BY position",
    )
    .bind(id.to_string())
    .fetch_all(conn)
    .await?;
    row.into_assessment(questions).map(Some)
}

/// Loads an assessment, or fails with [`AssessmentError::NotFound`].
pub(crate) async fn get_assessment(conn: &mut AnyConnection, id: AssessmentId) -> Result<Assessment, AssessmentError> {
    load_assessment(conn, id).await?.ok_or(AssessmentError::NotFound(id))
}

/// Stores a new assessment and its questions.
#[tracing::instrument(name = "insert an assessment", skip(conn, assessment), fields(assessment = %assessment.id()))]
pub(crate) async fn insert_assessment(
    conn: &mut AnyConnection,
    assessment: &Assessment,
) -> Result<(), AssessmentError> {
    sqlx::query(
        "INSERT INTO assessments (id, course_id, lesson_id, title, passing_score, max_attempts, time_limit_minutes, \
         instructor_id, created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(assessment.id().to_string())
    .bind(assessment.course_id().to_string())
    .bind(assessment.lesson_id().map(|l| l.to_string()))
    .bind(assessment.title().to_string())
    .bind(i64::from(assessment.passing_score().percent()))
    .bind(i64::from(assessment.max_attempts().get()))
    .bind(assessment.time_limit().map(|t| i64::from(t.as_minutes())))
    .bind(assessment.instructor_id().to_string())
    .bind(to_db_text(assessment.created_at()))
    .bind(to_db_text(assessment.updated_at()))
    .bind(assessment.version())
    .execute(&mut *conn)
    .await?;
    insert_questions(conn, assessment).await
}

async fn insert_questions(conn: &mut AnyConnection, assessment: &Assessment) -> Result<(), AssessmentError> {
    for (position, question) in (1_i64..).zip(assessment.questions()) {
        let (options, correct) = match question.kind() {
            QuestionKind::MultipleChoice { options, correct } => (Some(to_json(options)), Some(to_json(correct))),
            QuestionKind::Open => (None, None),
        };
        sqlx::query(
            "INSERT INTO assessment_questions (id, assessment_id, position, prompt, kind, options, correct, points) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(question.id().to_string())
        .bind(assessment.id().to_string())
        .bind(position)
        .bind(question.prompt().to_owned())
        .bind(question.kind().as_str())
        .bind(options)
        .bind(correct)
        .bind(i64::from(question.points()))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Saves an assessment's settings over the version it was loaded at, replaces its questions and
/// bumps the version ([`AssessmentError::ConcurrentChange`] when another save came first).
#[tracing::instrument(name = "save an assessment", skip(conn, assessment), fields(assessment = %assessment.id()))]
pub(crate) async fn save_assessment(
    conn: &mut AnyConnection,
    assessment: &mut Assessment,
) -> Result<(), AssessmentError> {
    let updated = sqlx::query(
        "UPDATE assessments SET title = $1, passing_score = $2, max_attempts = $3, time_limit_minutes = $4, \
         updated_at = $5, version = version + 1 WHERE id = $6 AND version = $7",
    )
    .bind(assessment.title().to_string())
    .bind(i64::from(assessment.passing_score().percent()))
    .bind(i64::from(assessment.max_attempts().get()))
    .bind(assessment.time_limit().map(|t| i64::from(t.as_minutes())))
    .bind(to_db_text(assessment.updated_at()))
    .bind(assessment.id().to_string())
    .bind(assessment.version())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(AssessmentError::ConcurrentChange(format!(
            "assessment {}",
            assessment.id()
        )));
    }
    sqlx::query("DELETE FROM assessment_questions WHERE assessment_id = $1")
        .bind(assessment.id().to_string())
        .execute(&mut *conn)
        .await?;
    insert_questions(conn, assessment).await?;
    assessment.saved();
    Ok(())
}

/// Locks the assessment's row at the version it was loaded at, without changing it, so that
/// starting an attempt and changing the questions exclude each other on PostgreSQL too: whichever
/// comes second either sees the other's attempt ([`AssessmentError::HasAttempts`]) or finds the
/// version moved ([`AssessmentError::ConcurrentChange`]). (SQLite serializes writers anyway.)
#[tracing::instrument(name = "hold an assessment", skip(conn, assessment), fields(assessment = %assessment.id()))]
pub(crate) async fn hold_assessment(conn: &mut AnyConnection, assessment: &Assessment) -> Result<(), AssessmentError> {
    let held = sqlx::query("UPDATE assessments SET version = version WHERE id = $1 AND version = $2")
        .bind(assessment.id().to_string())
        .bind(assessment.version())
        .execute(conn)
        .await?
        .rows_affected();
    if held != 1 {
        return Err(AssessmentError::ConcurrentChange(format!(
            "assessment {}",
            assessment.id()
        )));
    }
    Ok(())
}

/// How many attempts an assessment has, by anyone.
#[tracing::instrument(name = "count an assessment's attempts", skip(conn))]
pub(crate) async fn count_attempts(conn: &mut AnyConnection, assessment: AssessmentId) -> Result<i64, AssessmentError> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM assessment_attempts WHERE assessment_id = $1")
        .bind(assessment.to_string())
        .fetch_one(conn)
        .await?;
    Ok(n)
}
