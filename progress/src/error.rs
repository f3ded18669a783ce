//! Everything a progress command or read can fail with.

use course::CourseError;
use enrollment::{EnrollmentError, EnrollmentStatus, PercentageError};
use shared_kernel::{CourseId, EnrollmentId, LessonId, UowError};

use crate::domain::InvalidTimeSpent;

/// Why a progress command failed. A command that fails changed nothing: no row, no event.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// No enrollment has this id. Maps to 404 Not Found.
    #[error("no enrollment {0}")]
    EnrollmentNotFound(EnrollmentId),
    /// The enrollment's course no longer exists. Maps to 404 Not Found.
    #[error("no course {0}")]
    CourseNotFound(CourseId),
    /// The lesson is not one of the enrollment's course (another course's, or none at all).
    /// Maps to 422 Unprocessable Entity.
    #[error("lesson {lesson} is not a lesson of course {course}")]
    LessonNotInCourse {
        /// The lesson given.
        lesson: LessonId,
        /// The enrollment's course.
        course: CourseId,
    },
    /// Only an active enrollment makes progress (a dropped one must re-enroll first; a completed
    /// one is done). Maps to 409 Conflict.
    #[error("enrollment {enrollment} is {status}, not active")]
    EnrollmentNotActive {
        /// The enrollment.
        enrollment: EnrollmentId,
        /// Its status.
        status: EnrollmentStatus,
    },
    /// A time spent that cannot be one sitting's. Maps to 422 Unprocessable Entity.
    #[error(transparent)]
    InvalidTimeSpent(#[from] InvalidTimeSpent),
    /// A lesson progress outside 0–100. Maps to 422 Unprocessable Entity.
    #[error(transparent)]
    InvalidPercentage(#[from] PercentageError),
    /// The enrollment context refused or failed (e.g. a concurrent change). Maps to 409 for
    /// [`EnrollmentError::ConcurrentChange`], otherwise 500; log the source.
    #[error("the enrollment could not be updated")]
    Enrollment(#[source] EnrollmentError),
    /// Reading the course failed. Maps to 500; log the source.
    #[error("reading the course failed")]
    Course(#[source] CourseError),
    /// A stored lesson progress does not hold together (edited by hand?). Maps to 500.
    #[error("stored progress of enrollment {enrollment} is malformed: {reason}")]
    Corrupt {
        /// The enrollment.
        enrollment: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed. Maps to 500 (503 if it is unreachable); log the source, never show it.
    #[error("progress storage error")]
    Database(#[from] sqlx::Error),
    /// The unit of work could not commit: the database failed, or a sync listener such as
    /// `RecalculateCourseProgress` did, and everything was rolled back. Maps to 500; log the source.
    #[error("the progress command could not be committed")]
    UnitOfWork(#[from] UowError),
}
