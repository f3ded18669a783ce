//! Everything a learning-path command or read can fail with.

use course::{CourseError, CourseStatus};
use enrollment::EnrollmentError;
use shared_kernel::users::UserError;
use shared_kernel::{CourseId, LearningPathId, PathEnrollmentId, UowError, UserId};

use crate::domain::{InvalidTransition, PathStatus};

/// Why a learning-path command or read failed. A command that fails changed nothing: no row, no
/// event.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// No learning path has this id. Maps to 404 Not Found.
    #[error("no learning path {0}")]
    NotFound(LearningPathId),
    /// No path enrollment has this id. Maps to 404 Not Found.
    #[error("no learning path enrollment {0}")]
    EnrollmentNotFound(PathEnrollmentId),
    /// No course has this id. Maps to 404 Not Found (or 422 when the id came in a request body).
    #[error("no course {0}")]
    CourseNotFound(CourseId),
    /// The learner is not in the users store. Maps to 404 Not Found (or 422).
    #[error("no user {0}")]
    UserNotFound(UserId),
    /// The title is blank or too long. Maps to 422 Unprocessable Entity.
    #[error("invalid learning path title: {reason}")]
    InvalidTitle {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The drop reason is too long. Maps to 422 Unprocessable Entity.
    #[error("a drop reason can have at most {max} characters")]
    ReasonTooLong {
        /// The limit.
        max: usize,
    },
    /// Only the path's owner may change it. Maps to 403 Forbidden.
    #[error("user {actor} does not own learning path {path}")]
    NotOwner {
        /// The path.
        path: LearningPathId,
        /// Who tried.
        actor: UserId,
    },
    /// Only a published course goes into a path (and a path publishes only while all its courses
    /// still are). Maps to 409 Conflict: the course is a draft or archived.
    #[error("course {course} is {status}, not published")]
    CourseNotPublished {
        /// The course.
        course: CourseId,
        /// Its status.
        status: CourseStatus,
    },
    /// The course is already in the path. Maps to 409 Conflict.
    #[error("course {course} is already in learning path {path}")]
    DuplicateCourse {
        /// The path.
        path: LearningPathId,
        /// The course.
        course: CourseId,
    },
    /// The course is not in the path. Maps to 404 Not Found.
    #[error("course {course} is not in learning path {path}")]
    CourseNotInPath {
        /// The path.
        path: LearningPathId,
        /// The course.
        course: CourseId,
    },
    /// A published path's course list is frozen: learners are working through it. Maps to 409
    /// Conflict.
    #[error("learning path {0} is published, so its courses can no longer change")]
    CourseListFrozen(LearningPathId),
    /// The path is already published. Maps to 409 Conflict.
    #[error("learning path {0} is already published")]
    AlreadyPublished(LearningPathId),
    /// A path needs at least one course to be published. Maps to 422 Unprocessable Entity.
    #[error("learning path {0} has no courses")]
    EmptyPath(LearningPathId),
    /// Only a published path takes learners. Maps to 409 Conflict.
    #[error("learning path {path} is {status}, not published, so nobody can enroll in it")]
    PathNotPublished {
        /// The path.
        path: LearningPathId,
        /// Its status.
        status: PathStatus,
    },
    /// The learner already has an active enrollment in this path. Maps to 409 Conflict: show
    /// the existing one.
    #[error("user {user} is already enrolled in learning path {path}")]
    AlreadyEnrolled {
        /// The learner.
        user: UserId,
        /// The path.
        path: LearningPathId,
    },
    /// The path enrollment's lifecycle does not allow this move (e.g. dropping a completed or
    /// dropped one). Maps to 409 Conflict.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// Another command changed the path enrollment between this command's read and its write.
    /// Maps to 409 Conflict: reload and try again (a queued listener is simply retried).
    #[error("learning path enrollment {0} was changed by someone else meanwhile")]
    ConcurrentChange(PathEnrollmentId),
    /// Another command changed the path between this command's read and its write. Maps to 409
    /// Conflict: reload and try again.
    #[error("learning path {0} was changed by someone else meanwhile")]
    PathConcurrentChange(LearningPathId),
    /// Enrolling the learner in the path's current course failed. Maps as the source does
    /// (e.g. its `CourseNotPublished` is 409); log the source.
    #[error("enrolling in the path's course failed")]
    Enrollment(#[source] EnrollmentError),
    /// Reading a course failed. Maps to 500; log the source.
    #[error("reading the course failed")]
    Course(#[source] CourseError),
    /// Reading the learner failed. Maps to 500; log the source.
    #[error("reading the learner failed")]
    User(#[source] UserError),
    /// A stored path or path enrollment does not hold together (edited by hand?). Maps to 500.
    #[error("stored learning path data {id} is malformed: {reason}")]
    Corrupt {
        /// The row's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed. Maps to 500 (503 if it is unreachable); log the source, never show it.
    #[error("learning path storage error")]
    Database(#[from] sqlx::Error),
    /// The unit of work could not commit (a listener failed, or the database did). Maps to 500;
    /// log the source.
    #[error("the learning path command could not be committed")]
    UnitOfWork(#[from] UowError),
}
