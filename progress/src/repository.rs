//! Lesson progress in the database. Writes take the unit of work's connection; reads take any
//! connection. Writes are upserts guarded in SQL, so concurrent reports cannot complete a lesson
//! twice or lose a sitting's time.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use enrollment::Percentage;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::{EnrollmentId, LessonId, from_db_text, to_db_text};
use sqlx::FromRow;

use crate::domain::{LessonProgress, LessonProgressParts, TimeSpent};
use crate::error::ProgressError;

#[derive(FromRow)]
struct LessonProgressRow {
    enrollment_id: String,
    lesson_id: String,
    progress_percentage: f64,
    time_spent_seconds: i64,
    completed_at: Option<String>,
    started_at: String,
    updated_at: String,
}

fn corrupt(enrollment: &str, reason: impl ToString) -> ProgressError {
    ProgressError::Corrupt {
        enrollment: enrollment.to_owned(),
        reason: reason.to_string(),
    }
}

fn time(enrollment: &str, text: &str) -> Result<DateTime<Utc>, ProgressError> {
    from_db_text(text).map_err(|e| corrupt(enrollment, format!("timestamp `{text}`: {e}")))
}

impl TryFrom<LessonProgressRow> for LessonProgress {
    type Error = ProgressError;

    fn try_from(row: LessonProgressRow) -> Result<Self, Self::Error> {
        let id = row.enrollment_id.as_str();
        Ok(LessonProgress::from_parts(LessonProgressParts {
            enrollment_id: EnrollmentId::parse(id).map_err(|e| corrupt(id, e))?,
            lesson_id: LessonId::parse(&row.lesson_id).map_err(|e| corrupt(id, e))?,
            percentage: Percentage::new(row.progress_percentage).map_err(|e| corrupt(id, e))?,
            time_spent_seconds: u64::try_from(row.time_spent_seconds).map_err(|e| corrupt(id, e))?,
            completed_at: row.completed_at.as_deref().map(|t| time(id, t)).transpose()?,
            started_at: time(id, &row.started_at)?,
            updated_at: time(id, &row.updated_at)?,
        }))
    }
}

/// The learner's progress through one lesson, if they ever touched it.
#[tracing::instrument(name = "load a lesson's progress", skip(conn))]
pub(crate) async fn load(
    conn: &mut AnyConnection,
    enrollment: EnrollmentId,
    lesson: LessonId,
) -> Result<Option<LessonProgress>, ProgressError> {
    let row: Option<LessonProgressRow> = sqlx::query_as(
        "SELECT enrollment_id, lesson_id, progress_percentage, time_spent_seconds, completed_at, started_at, \
         updated_at FROM lesson_progress WHERE enrollment_id = $1 AND lesson_id = $2",
    )
    .bind(enrollment.to_string())
    .bind(lesson.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(LessonProgress::try_from).transpose()
}

/// Stores a completion unless the lesson is completed already; `false` when it was (another
/// command got there first), in which case nothing was written.
#[tracing::instrument(name = "save a lesson completion", skip(conn, progress), fields(lesson = %progress.lesson_id()))]
pub(crate) async fn save_completion(
    conn: &mut AnyConnection,
    progress: &LessonProgress,
) -> Result<bool, ProgressError> {
    let written = sqlx::query(
        "INSERT INTO lesson_progress (enrollment_id, lesson_id, progress_percentage, time_spent_seconds, \
         completed_at, started_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (enrollment_id, lesson_id) DO UPDATE SET progress_percentage = excluded.progress_percentage, \
         completed_at = excluded.completed_at, updated_at = excluded.updated_at \
         WHERE lesson_progress.completed_at IS NULL",
    )
    .bind(progress.enrollment_id().to_string())
    .bind(progress.lesson_id().to_string())
    .bind(progress.percentage().value())
    .bind(i64::try_from(progress.time_spent_seconds()).unwrap_or(i64::MAX))
    .bind(progress.completed_at().map(to_db_text))
    .bind(to_db_text(progress.started_at()))
    .bind(to_db_text(progress.updated_at()))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(written == 1)
}

/// Stores a partial progress unless the lesson is completed meanwhile (a completed lesson stays
/// at 100 %); `false` when nothing was written.
#[tracing::instrument(name = "save a lesson's partial progress", skip(conn, progress), fields(lesson = %progress.lesson_id()))]
pub(crate) async fn save_percentage(
    conn: &mut AnyConnection,
    progress: &LessonProgress,
) -> Result<bool, ProgressError> {
    let written = sqlx::query(
        "INSERT INTO lesson_progress (enrollment_id, lesson_id, progress_percentage, time_spent_seconds, \
         completed_at, started_at, updated_at) VALUES ($1, $2, $3, 0, NULL, $4, $5) \
         ON CONFLICT (enrollment_id, lesson_id) DO UPDATE SET progress_percentage = excluded.progress_percentage, \
         updated_at = excluded.updated_at WHERE lesson_progress.completed_at IS NULL",
    )
    .bind(progress.enrollment_id().to_string())
    .bind(progress.lesson_id().to_string())
    .bind(progress.percentage().value())
    .bind(to_db_text(progress.started_at()))
    .bind(to_db_text(progress.updated_at()))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(written == 1)
}

/// Adds a sitting's time to the lesson (starting its progress if need be) and returns the
/// lesson's total. The database does the addition, so no report is lost to a concurrent one.
#[tracing::instrument(name = "add time spent on a lesson", skip(conn))]
pub(crate) async fn add_time(
    conn: &mut AnyConnection,
    enrollment: EnrollmentId,
    lesson: LessonId,
    time: TimeSpent,
    now: DateTime<Utc>,
) -> Result<u64, ProgressError> {
    let now = to_db_text(now);
    let (total,): (i64,) = sqlx::query_as(
        "INSERT INTO lesson_progress (enrollment_id, lesson_id, progress_percentage, time_spent_seconds, \
         completed_at, started_at, updated_at) VALUES ($1, $2, 0, $3, NULL, $4, $5) \
         ON CONFLICT (enrollment_id, lesson_id) DO UPDATE SET \
         time_spent_seconds = lesson_progress.time_spent_seconds + excluded.time_spent_seconds, \
         updated_at = excluded.updated_at \
         RETURNING time_spent_seconds",
    )
    .bind(enrollment.to_string())
    .bind(lesson.to_string())
    .bind(i64::try_from(time.seconds()).unwrap_or(i64::MAX))
    .bind(now.clone())
    .bind(now)
    .fetch_one(conn)
    .await?;
    u64::try_from(total).map_err(|e| corrupt(&enrollment.to_string(), e))
}

/// The lessons of an enrollment that are completed.
#[tracing::instrument(name = "list an enrollment's completed lessons", skip(conn))]
pub(crate) async fn completed_lessons(
    conn: &mut AnyConnection,
    enrollment: EnrollmentId,
) -> Result<HashSet<LessonId>, ProgressError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT lesson_id FROM lesson_progress WHERE enrollment_id = $1 AND completed_at IS NOT NULL")
            .bind(enrollment.to_string())
            .fetch_all(conn)
            .await?;
    rows.into_iter()
        .map(|(id,)| LessonId::parse(&id).map_err(|e| corrupt(&enrollment.to_string(), e)))
        .collect()
}

/// Seconds spent on all of an enrollment's lessons.
#[tracing::instrument(name = "sum an enrollment's time spent", skip(conn))]
pub(crate) async fn total_time_spent(conn: &mut AnyConnection, enrollment: EnrollmentId) -> Result<u64, ProgressError> {
    // PostgreSQL sums BIGINTs as NUMERIC; the cast keeps the result an integer on both backends.
    let (total,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(time_spent_seconds), 0) AS BIGINT) FROM lesson_progress WHERE enrollment_id = $1",
    )
    .bind(enrollment.to_string())
    .fetch_one(conn)
    .await?;
    u64::try_from(total).map_err(|e| corrupt(&enrollment.to_string(), e))
}
