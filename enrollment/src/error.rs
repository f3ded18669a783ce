//! Everything an enrollment command or read can fail with.

use course::{CourseError, CourseStatus};
use shared_kernel::users::UserError;
use shared_kernel::{CourseId, EnrollmentId, UowError, UserId};

use crate::domain::{EnrollmentStatus, InvalidTransition};

/// Why an enrollment command or read failed. A command that fails changed nothing: no row, no
/// event.
#[derive(Debug, thiserror::Error)]
pub enum EnrollmentError {
    /// No enrollment has this id. Maps to 404 Not Found.
    #[error("no enrollment {0}")]
    NotFound(EnrollmentId),
    /// No course has this id. Maps to 404 Not Found (or 422 when the id came in a request body).
    #[error("no course {0}")]
    CourseNotFound(CourseId),
    /// The learner is not in the users store. Maps to 404 Not Found (or 422).
    #[error("no user {0}")]
    UserNotFound(UserId),
    /// Only a published course takes learners. Maps to 409 Conflict: the course is a draft or
    /// archived.
    #[error("course {course} is {status}, not published, so nobody can enroll in it")]
    CourseNotPublished {
        /// The course.
        course: CourseId,
        /// Its status.
        status: CourseStatus,
    },
    /// The learner already has an active enrollment in this course. Maps to 409 Conflict: show
    /// the existing enrollment.
    #[error("user {user} is already enrolled in course {course}")]
    AlreadyEnrolled {
        /// The learner.
        user: UserId,
        /// The course.
        course: CourseId,
    },
    /// The enrollment's lifecycle does not allow this move (e.g. dropping a completed
    /// enrollment, re-enrolling an active one). Maps to 409 Conflict.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// Only an active enrollment makes progress. Maps to 409 Conflict.
    #[error("enrollment {enrollment} is {status}, not active")]
    NotActive {
        /// The enrollment.
        enrollment: EnrollmentId,
        /// Its status.
        status: EnrollmentStatus,
    },
    /// The drop reason is too long. Maps to 422 Unprocessable Entity.
    #[error("a drop reason can have at most {max} characters")]
    ReasonTooLong {
        /// The limit.
        max: usize,
    },
    /// Another command changed the enrollment between this command's read and its write. Maps to
    /// 409 Conflict: reload and try again.
    #[error("enrollment {0} was changed by someone else meanwhile")]
    ConcurrentChange(EnrollmentId),
    /// Reading the course failed. Maps to 500; log the source.
    #[error("reading the course failed")]
    Course(#[source] CourseError),
    /// Reading the learner failed. Maps to 500; log the source.
    #[error("reading the learner failed")]
    User(#[source] UserError),
    /// A stored enrollment or certificate does not hold together (edited by hand?). Maps to 500.
    #[error("stored enrollment data {id} is malformed: {reason}")]
    Corrupt {
        /// The row's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed. Maps to 500 (503 if it is unreachable); log the source, never show it.
    #[error("enrollment storage error")]
    Database(#[from] sqlx::Error),
    /// The unit of work could not commit (a listener failed, or the database did). Maps to 500;
    /// log the source.
    #[error("the enrollment command could not be committed")]
    UnitOfWork(#[from] UowError),
}
