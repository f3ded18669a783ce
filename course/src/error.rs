//! Everything a course command or read can fail with.

use shared_kernel::{AssessmentId, CourseId, LessonId, UowError};

use crate::domain::{InvalidTransition, TitleError};
use crate::ports::EnrollmentCountsError;

/// Why a course command or read failed. A command that fails changed nothing: no row, no event.
#[derive(Debug, thiserror::Error)]
pub enum CourseError {
    /// The title is empty or longer than 200 characters. Maps to 422 Unprocessable Entity: ask
    /// for another title.
    #[error("invalid title")]
    InvalidTitle(#[from] TitleError),
    /// No course has this id. Maps to 404 Not Found.
    #[error("no course {0}")]
    NotFound(CourseId),
    /// The course has no such lesson. Maps to 404 Not Found.
    #[error("course {course} has no lesson {lesson}")]
    LessonNotFound {
        /// The course.
        course: CourseId,
        /// The lesson asked for.
        lesson: LessonId,
    },
    /// The lesson is content, so no assessment can be linked to it. Maps to 422 Unprocessable
    /// Entity: link the assessment to an assessment lesson.
    #[error("lesson {lesson} of course {course} is a content lesson, not an assessment lesson")]
    NotAnAssessmentLesson {
        /// The course.
        course: CourseId,
        /// The lesson.
        lesson: LessonId,
    },
    /// The assessment lesson already has another assessment. Maps to 409 Conflict.
    #[error("lesson {lesson} already has assessment {linked}")]
    AssessmentAlreadyLinked {
        /// The lesson.
        lesson: LessonId,
        /// The assessment linked to it.
        linked: AssessmentId,
    },
    /// The course's lifecycle does not allow this move (e.g. publishing an archived course).
    /// Maps to 409 Conflict: show the course's current status.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// Publishing needs at least one lesson. Maps to 422 Unprocessable Entity: add a lesson first.
    #[error("course {0} has no lessons, so it cannot be published")]
    NoLessons(CourseId),
    /// A new lesson order must list each of the course's lessons exactly once. Maps to 422
    /// Unprocessable Entity: reload the lessons and send their ids in the new order.
    #[error("the new order of course {course} must list each of its {expected} lessons exactly once")]
    NotAPermutation {
        /// The course.
        course: CourseId,
        /// How many lessons it has.
        expected: usize,
    },
    /// An archived course no longer changes. Maps to 409 Conflict.
    #[error("course {0} is archived and can no longer change")]
    Archived(CourseId),
    /// Removing the only lesson of a published course would leave it unpublishable content.
    /// Maps to 409 Conflict: unpublish first, or add another lesson.
    #[error("the last lesson of published course {0} cannot be removed")]
    LastLessonOfPublishedCourse(CourseId),
    /// Another command changed the course between this command's read and its write. Maps to
    /// 409 Conflict: reload and try again.
    #[error("course {0} was changed by someone else meanwhile")]
    ConcurrentChange(CourseId),
    /// The enrollment counts port failed. Maps to 500; log the source.
    #[error("the course's enrollment counts are unavailable")]
    EnrollmentCounts(#[source] EnrollmentCountsError),
    /// A stored course does not hold together (edited by hand?). Maps to 500; log it.
    #[error("stored course {course} is malformed: {reason}")]
    Corrupt {
        /// The course row's id.
        course: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed. Maps to 500 (503 if it is unreachable); log the source, never show it.
    #[error("course storage error")]
    Database(#[from] sqlx::Error),
    /// The unit of work could not commit (a listener failed, or the database did). Maps to 500;
    /// log the source.
    #[error("the course command could not be committed")]
    UnitOfWork(#[from] UowError),
}
