//! Courses and lessons in the database. Writes take the unit of work's connection; reads take
//! any connection (a pooled one, or a unit of work's to read inside its transaction).

use chrono::{DateTime, Utc};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::{AssessmentId, CourseId, LessonId, UserId, from_db_text, to_db_text};
use sqlx::FromRow;

use crate::domain::{Course, CourseParts, CourseStatus, Lesson, LessonKind, Title};
use crate::error::CourseError;

#[derive(FromRow)]
struct CourseRow {
    id: String,
    title: String,
    description: String,
    status: String,
    instructor_id: String,
    created_at: String,
    updated_at: String,
    version: i64,
}

#[derive(FromRow)]
struct LessonRow {
    id: String,
    title: String,
    kind: String,
    assessment_id: Option<String>,
    position: i64,
}

fn corrupt(course: &str, reason: impl ToString) -> CourseError {
    CourseError::Corrupt {
        course: course.to_owned(),
        reason: reason.to_string(),
    }
}

fn parse_time(course: &str, text: &str) -> Result<DateTime<Utc>, CourseError> {
    from_db_text(text).map_err(|e| corrupt(course, format!("timestamp `{text}`: {e}")))
}

impl CourseRow {
    fn into_course(self, lessons: Vec<Lesson>) -> Result<Course, CourseError> {
        let id = &self.id;
        Ok(Course::from_parts(CourseParts {
            id: CourseId::parse(id).map_err(|e| corrupt(id, e))?,
            title: Title::parse(&self.title).map_err(|e| corrupt(id, e))?,
            status: CourseStatus::from_stored(&self.status)
                .ok_or_else(|| corrupt(id, format!("unknown status `{}`", self.status)))?,
            instructor_id: UserId::parse(&self.instructor_id).map_err(|e| corrupt(id, e))?,
            created_at: parse_time(id, &self.created_at)?,
            updated_at: parse_time(id, &self.updated_at)?,
            version: self.version,
            description: self.description,
            lessons,
        }))
    }
}

impl LessonRow {
    fn into_lesson(self, course: &str) -> Result<Lesson, CourseError> {
        let assessment = self
            .assessment_id
            .as_deref()
            .map(AssessmentId::parse)
            .transpose()
            .map_err(|e| corrupt(course, e))?;
        let kind = LessonKind::from_stored(&self.kind, assessment).ok_or_else(|| {
            corrupt(
                course,
                format!("lesson {} has an impossible kind `{}`", self.id, self.kind),
            )
        })?;
        Ok(Lesson::new(
            LessonId::parse(&self.id).map_err(|e| corrupt(course, e))?,
            Title::parse(&self.title).map_err(|e| corrupt(course, e))?,
            kind,
            u32::try_from(self.position).map_err(|e| corrupt(course, e))?,
        ))
    }
}

/// Loads a course with its lessons in order.
#[tracing::instrument(name = "load a course", skip(conn))]
pub(crate) async fn load(conn: &mut AnyConnection, id: CourseId) -> Result<Option<Course>, CourseError> {
    let row: Option<CourseRow> = sqlx::query_as(
        "SELECT id, title, description, status, instructor_id, created_at, updated_at, version \
         FROM courses WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let lessons = lessons(conn, &row.id).await?;
    row.into_course(lessons).map(Some)
}

/// Loads a course, or fails with [`CourseError::NotFound`].
pub(crate) async fn get(conn: &mut AnyConnection, id: CourseId) -> Result<Course, CourseError> {
    load(conn, id).await?.ok_or(CourseError::NotFound(id))
}

/// A course's lessons in order.
#[tracing::instrument(name = "load a course's lessons", skip(conn))]
pub(crate) async fn lessons_of(conn: &mut AnyConnection, id: CourseId) -> Result<Vec<Lesson>, CourseError> {
    lessons(conn, &id.to_string()).await
}

async fn lessons(conn: &mut AnyConnection, course: &str) -> Result<Vec<Lesson>, CourseError> {
    let rows: Vec<LessonRow> = sqlx::query_as(
        "SELECT id, title, kind, assessment_id, position FROM lessons WHERE course_id = $1 ORDER BY position, id",
    )
    .bind(course.to_owned())
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(|row| row.into_lesson(course)).collect()
}

/// Stores a new course (without lessons: a new course has none).
#[tracing::instrument(name = "insert a course", skip(conn, course), fields(course = %course.id()))]
pub(crate) async fn insert(conn: &mut AnyConnection, course: &Course) -> Result<(), CourseError> {
    sqlx::query(
        "INSERT INTO courses (id, title, description, status, instructor_id, created_at, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(course.id().to_string())
    .bind(course.title().as_str().to_owned())
    .bind(course.description().to_owned())
    .bind(course.status().as_str())
    .bind(course.instructor_id().to_string())
    .bind(to_db_text(course.created_at()))
    .bind(to_db_text(course.updated_at()))
    .bind(course.version())
    .execute(conn)
    .await?;
    Ok(())
}

/// Saves the course row over the version it was loaded at, and bumps the version. Every
/// command that changes a course or its lessons saves the row, so two commands racing on one
/// course cannot both win: the second finds another version and fails with
/// [`CourseError::ConcurrentChange`].
#[tracing::instrument(name = "save a course", skip(conn, course), fields(course = %course.id()))]
pub(crate) async fn save(conn: &mut AnyConnection, course: &Course) -> Result<(), CourseError> {
    let updated = sqlx::query(
        "UPDATE courses SET title = $1, description = $2, status = $3, updated_at = $4, version = version + 1 \
         WHERE id = $5 AND version = $6",
    )
    .bind(course.title().as_str().to_owned())
    .bind(course.description().to_owned())
    .bind(course.status().as_str())
    .bind(to_db_text(course.updated_at()))
    .bind(course.id().to_string())
    .bind(course.version())
    .execute(conn)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(CourseError::ConcurrentChange(course.id()));
    }
    Ok(())
}

/// Stores a lesson just added to `course`.
#[tracing::instrument(name = "insert a lesson", skip(conn, lesson), fields(lesson = %lesson.id()))]
pub(crate) async fn insert_lesson(
    conn: &mut AnyConnection,
    course: CourseId,
    lesson: &Lesson,
    now: DateTime<Utc>,
) -> Result<(), CourseError> {
    sqlx::query(
        "INSERT INTO lessons (id, course_id, title, kind, assessment_id, position, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(lesson.id().to_string())
    .bind(course.to_string())
    .bind(lesson.title().as_str().to_owned())
    .bind(lesson.kind().as_str())
    .bind(lesson.kind().assessment_id().map(|a| a.to_string()))
    .bind(i64::from(lesson.position()))
    .bind(to_db_text(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes every lesson's position as the aggregate has it.
#[tracing::instrument(name = "save lesson positions", skip(conn, course), fields(course = %course.id()))]
pub(crate) async fn save_positions(conn: &mut AnyConnection, course: &Course) -> Result<(), CourseError> {
    for lesson in course.lessons() {
        sqlx::query("UPDATE lessons SET position = $1 WHERE id = $2 AND course_id = $3")
            .bind(i64::from(lesson.position()))
            .bind(lesson.id().to_string())
            .bind(course.id().to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Deletes a lesson.
#[tracing::instrument(name = "delete a lesson", skip(conn))]
pub(crate) async fn delete_lesson(
    conn: &mut AnyConnection,
    course: CourseId,
    lesson: LessonId,
) -> Result<(), CourseError> {
    sqlx::query("DELETE FROM lessons WHERE id = $1 AND course_id = $2")
        .bind(lesson.to_string())
        .bind(course.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the assessment of an assessment lesson that has none yet.
#[tracing::instrument(name = "link an assessment to a lesson", skip(conn))]
pub(crate) async fn link_assessment(
    conn: &mut AnyConnection,
    course: CourseId,
    lesson: LessonId,
    assessment: AssessmentId,
) -> Result<(), CourseError> {
    let updated = sqlx::query(
        "UPDATE lessons SET assessment_id = $1 WHERE id = $2 AND course_id = $3 AND kind = 'assessment' \
         AND assessment_id IS NULL",
    )
    .bind(assessment.to_string())
    .bind(lesson.to_string())
    .bind(course.to_string())
    .execute(conn)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(CourseError::ConcurrentChange(course));
    }
    Ok(())
}
