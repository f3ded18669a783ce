//! Enrollments and certificates in the database. Writes take the unit of work's connection;
//! reads take any connection.

use chrono::{DateTime, Utc};
use course::EnrollmentTally;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::{CertificateId, CourseId, EnrollmentId, UserId, from_db_text, to_db_text};
use sqlx::FromRow;

use crate::domain::{
    Certificate, DropReason, Enrollment, EnrollmentParts, EnrollmentStatus, Percentage, VerificationCode,
};
use crate::error::EnrollmentError;

/// The partial unique index that allows one active enrollment per (user, course).
const ONE_ACTIVE: &str = "enrollments_one_active";

/// `SELECT <every enrollment column> FROM enrollments WHERE <condition>`, as a literal.
macro_rules! select_enrollments {
    ($condition:literal) => {
        concat!(
            "SELECT id, user_id, course_id, status, progress_percentage, invited_by, enrolled_at, ",
            "completed_at, dropped_at, drop_reason, updated_at, version FROM enrollments WHERE ",
            $condition
        )
    };
}

/// `SELECT <every certificate column> FROM certificates WHERE <condition>`, as a literal.
macro_rules! select_certificates {
    ($condition:literal) => {
        concat!(
            "SELECT id, enrollment_id, user_id, course_id, verification_code, issued_at FROM certificates WHERE ",
            $condition
        )
    };
}

#[derive(FromRow)]
struct EnrollmentRow {
    id: String,
    user_id: String,
    course_id: String,
    status: String,
    progress_percentage: f64,
    invited_by: Option<String>,
    enrolled_at: String,
    completed_at: Option<String>,
    dropped_at: Option<String>,
    drop_reason: Option<String>,
    updated_at: String,
    version: i64,
}

#[derive(FromRow)]
struct CertificateRow {
    id: String,
    enrollment_id: String,
    user_id: String,
    course_id: String,
    verification_code: String,
    issued_at: String,
}

fn corrupt(id: &str, reason: impl ToString) -> EnrollmentError {
    EnrollmentError::Corrupt {
        id: id.to_owned(),
        reason: reason.to_string(),
    }
}

fn time(id: &str, text: &str) -> Result<DateTime<Utc>, EnrollmentError> {
    from_db_text(text).map_err(|e| corrupt(id, format!("timestamp `{text}`: {e}")))
}

fn optional_time(id: &str, text: Option<&str>) -> Result<Option<DateTime<Utc>>, EnrollmentError> {
    text.map(|t| time(id, t)).transpose()
}

impl TryFrom<EnrollmentRow> for Enrollment {
    type Error = EnrollmentError;

    fn try_from(row: EnrollmentRow) -> Result<Self, Self::Error> {
        let id = row.id.as_str();
        Ok(Enrollment::from_parts(EnrollmentParts {
            id: EnrollmentId::parse(id).map_err(|e| corrupt(id, e))?,
            user_id: UserId::parse(&row.user_id).map_err(|e| corrupt(id, e))?,
            course_id: CourseId::parse(&row.course_id).map_err(|e| corrupt(id, e))?,
            status: EnrollmentStatus::from_stored(&row.status)
                .ok_or_else(|| corrupt(id, format!("unknown status `{}`", row.status)))?,
            progress: Percentage::new(row.progress_percentage).map_err(|e| corrupt(id, e))?,
            invited_by: row
                .invited_by
                .as_deref()
                .map(UserId::parse)
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

impl TryFrom<CertificateRow> for Certificate {
    type Error = EnrollmentError;

    fn try_from(row: CertificateRow) -> Result<Self, Self::Error> {
        let id = row.id.as_str();
        Ok(Certificate {
            id: CertificateId::parse(id).map_err(|e| corrupt(id, e))?,
            enrollment_id: EnrollmentId::parse(&row.enrollment_id).map_err(|e| corrupt(id, e))?,
            user_id: UserId::parse(&row.user_id).map_err(|e| corrupt(id, e))?,
            course_id: CourseId::parse(&row.course_id).map_err(|e| corrupt(id, e))?,
            verification_code: VerificationCode::parse(&row.verification_code)
                .ok_or_else(|| corrupt(id, format!("bad verification code `{}`", row.verification_code)))?,
            issued_at: time(id, &row.issued_at)?,
        })
    }
}

/// A write that hit the one-active-enrollment index means the learner is already enrolled.
fn already_enrolled_or(e: sqlx::Error, enrollment: &Enrollment) -> EnrollmentError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() && db.constraint().is_none_or(|c| c == ONE_ACTIVE) => {
            EnrollmentError::AlreadyEnrolled {
                user: enrollment.user_id(),
                course: enrollment.course_id(),
            }
        }
        _ => EnrollmentError::Database(e),
    }
}

/// Loads an enrollment.
#[tracing::instrument(name = "load an enrollment", skip(conn))]
pub(crate) async fn load(conn: &mut AnyConnection, id: EnrollmentId) -> Result<Option<Enrollment>, EnrollmentError> {
    let row: Option<EnrollmentRow> = sqlx::query_as(select_enrollments!("id = $1"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(Enrollment::try_from).transpose()
}

/// A learner's enrollments, newest first, at most `limit`, those before `before` (an id) when
/// given: one statement for a whole page.
pub(crate) async fn of_learner(
    conn: &mut AnyConnection,
    user: UserId,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Enrollment>, EnrollmentError> {
    let rows: Vec<EnrollmentRow> = sqlx::query_as(select_enrollments!(
        "user_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
    ))
    .bind(user.to_string())
    .bind(before.unwrap_or_default().to_owned())
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.into_iter().map(Enrollment::try_from).collect()
}

/// Loads an enrollment, or fails with [`EnrollmentError::NotFound`].
pub(crate) async fn get(conn: &mut AnyConnection, id: EnrollmentId) -> Result<Enrollment, EnrollmentError> {
    load(conn, id).await?.ok_or(EnrollmentError::NotFound(id))
}

/// The learner's active enrollment in a course, if any.
#[tracing::instrument(name = "find an active enrollment", skip(conn))]
pub(crate) async fn load_active(
    conn: &mut AnyConnection,
    user: UserId,
    course: CourseId,
) -> Result<Option<Enrollment>, EnrollmentError> {
    let row: Option<EnrollmentRow> = sqlx::query_as(select_enrollments!(
        "user_id = $1 AND course_id = $2 AND status = 'active'"
    ))
    .bind(user.to_string())
    .bind(course.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(Enrollment::try_from).transpose()
}

/// Whether the learner has completed the course (in any of their enrollments in it).
#[tracing::instrument(name = "has the learner completed a course", skip(conn))]
pub(crate) async fn has_completed(
    conn: &mut AnyConnection,
    user: UserId,
    course: CourseId,
) -> Result<bool, EnrollmentError> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM enrollments WHERE user_id = $1 AND course_id = $2 AND status = 'completed'",
    )
    .bind(user.to_string())
    .bind(course.to_string())
    .fetch_one(conn)
    .await?;
    Ok(count > 0)
}

/// Stores a new enrollment; a second active one for the same (user, course) is
/// [`EnrollmentError::AlreadyEnrolled`].
#[tracing::instrument(name = "insert an enrollment", skip(conn, enrollment), fields(enrollment = %enrollment.id()))]
pub(crate) async fn insert(conn: &mut AnyConnection, enrollment: &Enrollment) -> Result<(), EnrollmentError> {
    sqlx::query(
        "INSERT INTO enrollments (id, user_id, course_id, status, progress_percentage, invited_by, enrolled_at, \
         completed_at, dropped_at, drop_reason, updated_at, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(enrollment.id().to_string())
    .bind(enrollment.user_id().to_string())
    .bind(enrollment.course_id().to_string())
    .bind(enrollment.status().as_str())
    .bind(enrollment.progress().value())
    .bind(enrollment.invited_by().map(|u| u.to_string()))
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

/// Saves an enrollment over the version it was loaded at and bumps the version, so of two
/// commands racing on one enrollment only the first wins ([`EnrollmentError::ConcurrentChange`]
/// for the second). Re-activating one while another is active is
/// [`EnrollmentError::AlreadyEnrolled`].
#[tracing::instrument(name = "save an enrollment", skip(conn, enrollment), fields(enrollment = %enrollment.id()))]
pub(crate) async fn save(conn: &mut AnyConnection, enrollment: &mut Enrollment) -> Result<(), EnrollmentError> {
    let updated = sqlx::query(
        "UPDATE enrollments SET status = $1, progress_percentage = $2, completed_at = $3, dropped_at = $4, \
         drop_reason = $5, updated_at = $6, version = version + 1 WHERE id = $7 AND version = $8",
    )
    .bind(enrollment.status().as_str())
    .bind(enrollment.progress().value())
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
        return Err(EnrollmentError::ConcurrentChange(enrollment.id()));
    }
    enrollment.saved();
    Ok(())
}

/// A course's enrollments by state, in one statement.
#[tracing::instrument(name = "count a course's enrollments", skip(conn))]
pub(crate) async fn tally(conn: &mut AnyConnection, course: CourseId) -> Result<EnrollmentTally, EnrollmentError> {
    let (total, active, completed): (i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), \
         COALESCE(SUM(CASE WHEN status = 'active' THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), 0) \
         FROM enrollments WHERE course_id = $1",
    )
    .bind(course.to_string())
    .fetch_one(conn)
    .await?;
    let count = |n: i64| u64::try_from(n).unwrap_or_default();
    Ok(EnrollmentTally {
        active: count(active),
        completed: count(completed),
        total: count(total),
    })
}

/// Issues the enrollment's certificate unless it has one, and returns the certificate. Safe to
/// run twice (a retried job): the unique index on `enrollment_id` keeps the first.
#[tracing::instrument(name = "issue a certificate once", skip(conn, enrollment), fields(enrollment = %enrollment.id()))]
pub(crate) async fn issue_certificate_once(
    conn: &mut AnyConnection,
    enrollment: &Enrollment,
    now: DateTime<Utc>,
) -> Result<Certificate, EnrollmentError> {
    // `DO NOTHING` without a target also swallows the (vanishingly rare) clash of two random
    // codes without aborting the transaction, which PostgreSQL would do on an error; the loop
    // then simply draws another code.
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        sqlx::query(
            "INSERT INTO certificates (id, enrollment_id, user_id, course_id, verification_code, issued_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(CertificateId::new().to_string())
        .bind(enrollment.id().to_string())
        .bind(enrollment.user_id().to_string())
        .bind(enrollment.course_id().to_string())
        .bind(VerificationCode::generate().as_str().to_owned())
        .bind(to_db_text(now))
        .execute(&mut *conn)
        .await?;
        if let Some(certificate) = certificate_of(conn, enrollment.id()).await? {
            return Ok(certificate);
        }
    }
    Err(corrupt(
        &enrollment.id().to_string(),
        format!("no unused verification code after {ATTEMPTS} draws"),
    ))
}

/// The certificate of an enrollment, if it has one.
#[tracing::instrument(name = "find an enrollment's certificate", skip(conn))]
pub(crate) async fn certificate_of(
    conn: &mut AnyConnection,
    enrollment: EnrollmentId,
) -> Result<Option<Certificate>, EnrollmentError> {
    let row: Option<CertificateRow> = sqlx::query_as(select_certificates!("enrollment_id = $1"))
        .bind(enrollment.to_string())
        .fetch_optional(conn)
        .await?;
    row.map(Certificate::try_from).transpose()
}

/// The certificate with this verification code, if any.
#[tracing::instrument(name = "find a certificate by its code", skip(conn))]
pub(crate) async fn certificate_by_code(
    conn: &mut AnyConnection,
    code: &VerificationCode,
) -> Result<Option<Certificate>, EnrollmentError> {
    let row: Option<CertificateRow> = sqlx::query_as(select_certificates!("verification_code = $1"))
        .bind(code.as_str().to_owned())
        .fetch_optional(conn)
        .await?;
    row.map(Certificate::try_from).transpose()
}
