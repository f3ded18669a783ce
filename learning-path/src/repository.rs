//! Learning paths and path enrollments in the database. Writes take the unit of work's
//! connection; reads take any connection.

use chrono::{DateTime, Utc};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::{CourseId, LearningPathId, PathEnrollmentId, UserId, from_db_text, to_db_text};
use sqlx::FromRow;

use crate::domain::{
    DropReason, LearningPath, PathEnrollment, PathEnrollmentParts, PathEnrollmentStatus, PathParts, PathStatus,
    PathTitle,
};
use crate::error::PathError;

/// The partial unique index that allows one active path enrollment per (user, path).
const ONE_ACTIVE: &str = "path_enrollments_one_active";

/// `SELECT <every path enrollment column> FROM path_enrollments WHERE <condition>`, as a literal.
macro_rules! select_enrollments {
    ($condition:literal) => {
        concat!(
            "SELECT id, path_id, user_id, status, position, current_course_id, enrolled_at, completed_at, ",
            "dropped_at, drop_reason, updated_at, version FROM path_enrollments WHERE ",
            $condition
        )
    };
}

#[derive(FromRow)]
struct PathRow {
    id: String,
    owner_id: String,
    title: String,
    description: String,
    status: String,
    published_at: Option<String>,
    created_at: String,
    updated_at: String,
    version: i64,
}

#[derive(FromRow)]
struct EnrollmentRow {
    id: String,
    path_id: String,
    user_id: String,
    status: String,
    position: i64,
    current_course_id: Option<String>,
    enrolled_at: String,
    completed_at: Option<String>,
    dropped_at: Option<String>,
    drop_reason: Option<String>,
    updated_at: String,
    version: i64,
}

fn corrupt(id: &str, reason: impl ToString) -> PathError {
    PathError::Corrupt {
        id: id.to_owned(),
        reason: reason.to_string(),
    }
}

fn time(id: &str, text: &str) -> Result<DateTime<Utc>, PathError> {
    from_db_text(text).map_err(|e| corrupt(id, format!("timestamp `{text}`: {e}")))
}

fn optional_time(id: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, PathError> {
    text.map(|t| time(id, t)).transpose()
}

fn into_path(row: PathRow, course_ids: Vec<String>) -> Result<LearningPath, PathError> {
    let id = row.id.as_str();
    let courses = course_ids
        .iter()
        .map(|c| CourseId::parse(c).map_err(|e| corrupt(id, e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LearningPath::from_parts(PathParts {
        id: LearningPathId::parse(id).map_err(|e| corrupt(id, e))?,
        owner_id: UserId::parse(&row.owner_id).map_err(|e| corrupt(id, e))?,
        title: PathTitle::parse(&row.title).map_err(|e| corrupt(id, e))?,
        description: row.description,
        status: PathStatus::from_stored(&row.status)
            .ok_or_else(|| corrupt(id, format!("unknown status `{}`", row.status)))?,
        courses,
        published_at: optional_time(id, row.published_at.as_deref())?,
        created_at: time(id, &row.created_at)?,
        updated_at: time(id, &row.updated_at)?,
        version: row.version,
    }))
}

impl TryFrom<EnrollmentRow> for PathEnrollment {
    type Error = PathError;

    fn try_from(row: EnrollmentRow) -> Result<Self, Self::Error> {
        let id = row.id.as_str();
        Ok(PathEnrollment::from_parts(PathEnrollmentParts {
            id: PathEnrollmentId::parse(id).map_err(|e| corrupt(id, e))?,
            path_id: LearningPathId::parse(&row.path_id).map_err(|e| corrupt(id, e))?,
            user_id: UserId::parse(&row.user_id).map_err(|e| corrupt(id, e))?,
            status: PathEnrollmentStatus::from_stored(&row.status)
                .ok_or_else(|| corrupt(id, format!("unknown status `{}`", row.status)))?,
            position: usize::try_from(row.position).map_err(|e| corrupt(id, e))?,
            current_course: row
                .current_course_id
                .as_deref()
                .map(CourseId::parse)
                .transpose()
                .map_err(|e| corrupt(id, e))?,
            enrolled_at: time(id, &row.enrolled_at)?,
            completed_at: optional_time(id, row.completed_at.as_deref())?,
            dropped_at: optional_time(id, row.dropped_at.as_deref())?,
            drop_reason: row
                .drop_reason
                .as_deref()
                .map(DropReason::parse)
                .transpose()
                .map_err(|e| corrupt(id, e))?
                .flatten(),
            updated_at: time(id, &row.updated_at)?,
            version: row.version,
        }))
    }
}

fn position(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Loads a learning path with its courses in order.
#[tracing::instrument(name = "load a learning path", skip(conn))]
pub(crate) async fn load_path(conn: &mut AnyConnection, id: LearningPathId) -> Result<Option<LearningPath>, PathError> {
    let row: Option<PathRow> = sqlx::query_as(
        "SELECT id, owner_id, title, description, status, published_at, created_at, updated_at, version \
         FROM learning_paths WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let courses: Vec<(String,)> =
        sqlx::query_as("SELECT course_id FROM learning_path_courses WHERE path_id = $1 ORDER BY position")
            .bind(id.to_string())
            .fetch_all(conn)
            .await?;
    into_path(row, courses.into_iter().map(|(c,)| c).collect()).map(Some)
}

/// Loads a learning path, or fails with [`PathError::NotFound`].
pub(crate) async fn get_path(conn: &mut AnyConnection, id: LearningPathId) -> Result<LearningPath, PathError> {
    load_path(conn, id).await?.ok_or(PathError::NotFound(id))
}

async fn write_courses(conn: &mut AnyConnection, path: &LearningPath) -> Result<(), PathError> {
    sqlx::query("DELETE FROM learning_path_courses WHERE path_id = $1")
        .bind(path.id().to_string())
        .execute(&mut *conn)
        .await?;
    for (index, course) in path.courses().iter().enumerate() {
        sqlx::query("INSERT INTO learning_path_courses (path_id, position, course_id) VALUES ($1, $2, $3)")
            .bind(path.id().to_string())
            .bind(position(index))
            .bind(course.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Stores a new learning path.
#[tracing::instrument(name = "insert a learning path", skip(conn, path), fields(path = %path.id()))]
pub(crate) async fn insert_path(conn: &mut AnyConnection, path: &LearningPath) -> Result<(), PathError> {
    sqlx::query(
        "INSERT INTO learning_paths (id, owner_id, title, description, status, published_at, created_at, \
         updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(path.id().to_string())
    .bind(path.owner_id().to_string())
    .bind(path.title().to_owned())
    .bind(path.description().to_owned())
    .bind(path.status().as_str())
    .bind(path.published_at().map(to_db_text))
    .bind(to_db_text(path.created_at()))
    .bind(to_db_text(path.updated_at()))
    .bind(path.version())
    .execute(&mut *conn)
    .await?;
    write_courses(conn, path).await
}

/// Saves a learning path and its course list over the version it was loaded at and bumps the
/// version ([`PathError::PathConcurrentChange`] if another command saved it meanwhile).
#[tracing::instrument(name = "save a learning path", skip(conn, path), fields(path = %path.id()))]
pub(crate) async fn save_path(conn: &mut AnyConnection, path: &mut LearningPath) -> Result<(), PathError> {
    let updated = sqlx::query(
        "UPDATE learning_paths SET title = $1, description = $2, status = $3, published_at = $4, updated_at = $5, \
         version = version + 1 WHERE id = $6 AND version = $7",
    )
    .bind(path.title().to_owned())
    .bind(path.description().to_owned())
    .bind(path.status().as_str())
    .bind(path.published_at().map(to_db_text))
    .bind(to_db_text(path.updated_at()))
    .bind(path.id().to_string())
    .bind(path.version())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(PathError::PathConcurrentChange(path.id()));
    }
    write_courses(conn, path).await?;
    path.saved();
    Ok(())
}

/// A write that hit the one-active-path-enrollment index means the learner is already enrolled.
fn already_enrolled_or(e: sqlx::Error, enrollment: &PathEnrollment) -> PathError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() && db.constraint().is_none_or(|c| c == ONE_ACTIVE) => {
            PathError::AlreadyEnrolled {
                user: enrollment.user_id(),
                path: enrollment.path_id(),
            }
        }
        _ => PathError::Database(e),
    }
}

/// Loads a path enrollment.
#[tracing::instrument(name = "load a path enrollment", skip(conn))]
pub(crate) async fn load_enrollment(
    conn: &mut AnyConnection,
    id: PathEnrollmentId,
) -> Result<Option<PathEnrollment>, PathError> {
    let row: Option<EnrollmentRow> = sqlx::query_as(select_enrollments!("id = $1"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(PathEnrollment::try_from).transpose()
}

/// Loads a path enrollment, or fails with [`PathError::EnrollmentNotFound`].
pub(crate) async fn get_enrollment(
    conn: &mut AnyConnection,
    id: PathEnrollmentId,
) -> Result<PathEnrollment, PathError> {
    load_enrollment(conn, id)
        .await?
        .ok_or(PathError::EnrollmentNotFound(id))
}

/// The learner's active enrollment in a path, if any.
#[tracing::instrument(name = "find an active path enrollment", skip(conn))]
pub(crate) async fn load_active(
    conn: &mut AnyConnection,
    user: UserId,
    path: LearningPathId,
) -> Result<Option<PathEnrollment>, PathError> {
    let row: Option<EnrollmentRow> = sqlx::query_as(select_enrollments!(
        "user_id = $1 AND path_id = $2 AND status = 'active'"
    ))
    .bind(user.to_string())
    .bind(path.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(PathEnrollment::try_from).transpose()
}

/// The learner's active path enrollments whose current course is `course`.
#[tracing::instrument(name = "find the active path enrollments on a course", skip(conn))]
pub(crate) async fn active_on_course(
    conn: &mut AnyConnection,
    user: UserId,
    course: CourseId,
) -> Result<Vec<PathEnrollment>, PathError> {
    let rows: Vec<EnrollmentRow> = sqlx::query_as(select_enrollments!(
        "user_id = $1 AND current_course_id = $2 AND status = 'active' ORDER BY enrolled_at, id"
    ))
    .bind(user.to_string())
    .bind(course.to_string())
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(PathEnrollment::try_from).collect()
}

/// Every path enrollment of a learner, oldest first.
#[tracing::instrument(name = "list a learner's path enrollments", skip(conn))]
pub(crate) async fn enrollments_of(conn: &mut AnyConnection, user: UserId) -> Result<Vec<PathEnrollment>, PathError> {
    let rows: Vec<EnrollmentRow> = sqlx::query_as(select_enrollments!("user_id = $1 ORDER BY enrolled_at, id"))
        .bind(user.to_string())
        .fetch_all(conn)
        .await?;
    rows.into_iter().map(PathEnrollment::try_from).collect()
}

/// Stores a new path enrollment; a second active one for the same (user, path) is
/// [`PathError::AlreadyEnrolled`].
#[tracing::instrument(name = "insert a path enrollment", skip(conn, enrollment), fields(enrollment = %enrollment.id()))]
pub(crate) async fn insert_enrollment(conn: &mut AnyConnection, enrollment: &PathEnrollment) -> Result<(), PathError> {
    sqlx::query(
        "INSERT INTO path_enrollments (id, path_id, user_id, status, position, current_course_id, enrolled_at, \
         completed_at, dropped_at, drop_reason, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(enrollment.id().to_string())
    .bind(enrollment.path_id().to_string())
    .bind(enrollment.user_id().to_string())
    .bind(enrollment.status().as_str())
    .bind(position(enrollment.position()))
    .bind(enrollment.current_course().map(|c| c.to_string()))
    .bind(to_db_text(enrollment.enrolled_at()))
    .bind(enrollment.completed_at().map(to_db_text))
    .bind(enrollment.dropped_at().map(to_db_text))
    .bind(enrollment.drop_reason().map(|r| r.as_str().to_owned()))
    .bind(to_db_text(enrollment.updated_at()))
    .bind(enrollment.version())
    .execute(conn)
    .await
    .map_err(|e| already_enrolled_or(e, enrollment))?;
    Ok(())
}

/// Saves a path enrollment over the version it was loaded at and bumps the version, so of two
/// commands or jobs racing on one path enrollment only the first wins
/// ([`PathError::ConcurrentChange`] for the second, whose transaction then rolls back).
#[tracing::instrument(name = "save a path enrollment", skip(conn, enrollment), fields(enrollment = %enrollment.id()))]
pub(crate) async fn save_enrollment(
    conn: &mut AnyConnection,
    enrollment: &mut PathEnrollment,
) -> Result<(), PathError> {
    let updated = sqlx::query(
        "UPDATE path_enrollments SET status = $1, position = $2, current_course_id = $3, completed_at = $4, \
         dropped_at = $5, drop_reason = $6, updated_at = $7, version = version + 1 WHERE id = $8 AND version = $9",
    )
    .bind(enrollment.status().as_str())
    .bind(position(enrollment.position()))
    .bind(enrollment.current_course().map(|c| c.to_string()))
    .bind(enrollment.completed_at().map(to_db_text))
    .bind(enrollment.dropped_at().map(to_db_text))
    .bind(enrollment.drop_reason().map(|r| r.as_str().to_owned()))
    .bind(to_db_text(enrollment.updated_at()))
    .bind(enrollment.id().to_string())
    .bind(enrollment.version())
    .execute(conn)
    .await
    .map_err(|e| already_enrolled_or(e, enrollment))?
    .rows_affected();
    if updated != 1 {
        return Err(PathError::ConcurrentChange(enrollment.id()));
    }
    enrollment.saved();
    Ok(())
}

#[cfg(test)]
mod tests {
    use shared_kernel::testing::TestDb;

    use super::*;

    async fn db() -> TestDb {
        TestDb::new(vec![course::migrator(), enrollment::migrator(), crate::migrator()]).await
    }

    async fn published_path(conn: &mut AnyConnection, courses: Vec<CourseId>) -> LearningPath {
        let now = Utc::now();
        let path = LearningPath::from_parts(PathParts {
            id: LearningPathId::new(),
            owner_id: UserId::new(),
            title: PathTitle::parse("Jalur Rust").unwrap(),
            description: String::new(),
            status: PathStatus::Published,
            courses,
            published_at: Some(now),
            created_at: now,
            updated_at: now,
            version: 0,
        });
        insert_path(conn, &path).await.unwrap();
        path
    }

    #[tokio::test]
    async fn a_path_reads_back_with_its_courses_in_order() {
        let db = db().await;
        let mut conn = db.db().writer().acquire().await.unwrap();
        let courses = vec![CourseId::new(), CourseId::new(), CourseId::new()];

        let path = published_path(&mut conn, courses.clone()).await;

        let back = load_path(&mut conn, path.id()).await.unwrap().unwrap();
        assert_eq!(back.courses(), courses);
        assert_eq!(back.title(), "Jalur Rust");
        assert_eq!(back.status(), PathStatus::Published);
    }

    #[tokio::test]
    async fn of_two_saves_from_the_same_read_only_the_first_advances_the_path_enrollment() {
        let db = db().await;
        let mut conn = db.db().writer().acquire().await.unwrap();
        let courses = vec![CourseId::new(), CourseId::new()];
        let path = published_path(&mut conn, courses.clone()).await;
        let enrollment = PathEnrollment::start(&path, UserId::new(), Utc::now()).unwrap();
        insert_enrollment(&mut conn, &enrollment).await.unwrap();
        let (mut first, mut second) = (enrollment.clone(), enrollment);

        first.advance_past(courses[0], &courses, Utc::now()).unwrap();
        save_enrollment(&mut conn, &mut first).await.unwrap();
        second.advance_past(courses[0], &courses, Utc::now()).unwrap();
        let err = save_enrollment(&mut conn, &mut second).await.unwrap_err();

        assert!(matches!(err, PathError::ConcurrentChange(id) if id == first.id()));
        let stored = load_enrollment(&mut conn, first.id()).await.unwrap().unwrap();
        assert_eq!(stored.position(), 1);
        assert_eq!(stored.current_course(), Some(courses[1]));
    }

    #[tokio::test]
    async fn the_unique_index_refuses_a_second_active_path_enrollment_as_already_enrolled() {
        let db = db().await;
        let mut conn = db.db().writer().acquire().await.unwrap();
        let path = published_path(&mut conn, vec![CourseId::new()]).await;
        let learner = UserId::new();
        insert_enrollment(&mut conn, &PathEnrollment::start(&path, learner, Utc::now()).unwrap())
            .await
            .unwrap();

        let err = insert_enrollment(&mut conn, &PathEnrollment::start(&path, learner, Utc::now()).unwrap())
            .await
            .unwrap_err();

        assert!(matches!(err, PathError::AlreadyEnrolled { user, path: p } if user == learner && p == path.id()));
        assert_eq!(enrollments_of(&mut conn, learner).await.unwrap().len(), 1);
    }
}
