//! Everything an assessment command or read can fail with.

use course::{CourseError, TitleError};
use enrollment::EnrollmentError;
use shared_kernel::{AssessmentId, AttemptId, CourseId, QuestionId, UowError, UserId};

use crate::domain::{QuestionError, SettingsError};

/// Why an assessment command or read failed. A command that fails changed nothing: no row, no
/// event.
#[derive(Debug, thiserror::Error)]
pub enum AssessmentError {
    /// No assessment has this id. Maps to 404 Not Found.
    #[error("no assessment {0}")]
    NotFound(AssessmentId),
    /// No attempt has this id. Maps to 404 Not Found.
    #[error("no attempt {0}")]
    AttemptNotFound(AttemptId),
    /// No course has this id. Maps to 404 Not Found (or 422 when the id came in a request body).
    #[error("no course {0}")]
    CourseNotFound(CourseId),
    /// Only the course's instructor creates, changes and grades its assessments. Maps to 403
    /// Forbidden.
    #[error("user {user} is not the instructor of course {course}")]
    NotInstructor {
        /// Who tried.
        user: UserId,
        /// The course.
        course: CourseId,
    },
    /// The title is empty or too long. Maps to 422 Unprocessable Entity.
    #[error("invalid assessment title")]
    InvalidTitle(#[from] TitleError),
    /// The passing score, the number of attempts or the time limit is out of range. Maps to 422
    /// Unprocessable Entity.
    #[error(transparent)]
    InvalidSettings(#[from] SettingsError),
    /// An assessment needs at least one question. Maps to 422 Unprocessable Entity.
    #[error("an assessment needs at least one question")]
    NoQuestions,
    /// A question of the draft is invalid. Maps to 422 Unprocessable Entity, pointing at the
    /// question (`index` counts from 0).
    #[error("question {index} is invalid: {source}")]
    InvalidQuestion {
        /// Its position in the draft, from 0.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: QuestionError,
    },
    /// Learners have attempted the assessment, so its questions and settings are frozen. Maps to
    /// 409 Conflict: create a new assessment instead.
    #[error("assessment {0} has attempts and can no longer be changed")]
    HasAttempts(AssessmentId),
    /// Only a learner with an active enrollment in the course takes its assessments. Maps to 403
    /// Forbidden: enroll first.
    #[error("user {user} has no active enrollment in course {course}")]
    NotEnrolled {
        /// The learner.
        user: UserId,
        /// The assessment's course.
        course: CourseId,
    },
    /// The learner already has an attempt in progress at this assessment. Maps to 409 Conflict:
    /// resume or submit it.
    #[error("user {user} already has an attempt in progress at assessment {assessment}")]
    AttemptInProgress {
        /// The assessment.
        assessment: AssessmentId,
        /// The learner.
        user: UserId,
    },
    /// The learner has used every attempt. Maps to 409 Conflict.
    #[error("no attempts left: at most {max} are allowed")]
    NoAttemptsLeft {
        /// The assessment's maximum.
        max: u32,
    },
    /// Only the learner who started an attempt submits it. Maps to 403 Forbidden.
    #[error("attempt {0} belongs to another learner")]
    NotYourAttempt(AttemptId),
    /// The attempt was already submitted. Maps to 409 Conflict.
    #[error("attempt {0} was already submitted")]
    AlreadySubmitted(AttemptId),
    /// The question is not one of the assessment's. Maps to 422 Unprocessable Entity.
    #[error("question {0} is not part of this assessment")]
    UnknownQuestion(QuestionId),
    /// The submission answers the question more than once. Maps to 422 Unprocessable Entity.
    #[error("question {0} is answered more than once")]
    DuplicateAnswer(QuestionId),
    /// A text for a multiple-choice question or choices for an open one. Maps to 422
    /// Unprocessable Entity.
    #[error("the response to question {0} is of the wrong kind")]
    WrongResponseKind(QuestionId),
    /// A chosen option the question does not have. Maps to 422 Unprocessable Entity.
    #[error("question {question} has no option {option}")]
    NoSuchOption {
        /// The question.
        question: QuestionId,
        /// The option index chosen.
        option: usize,
    },
    /// The attempt is still in progress, so there is nothing to grade yet. Maps to 409 Conflict.
    #[error("attempt {0} has not been submitted")]
    NotSubmitted(AttemptId),
    /// Every answer of the attempt is graded already. Maps to 409 Conflict.
    #[error("attempt {0} is already graded")]
    AlreadyGraded(AttemptId),
    /// Multiple-choice answers are graded automatically, never by hand. Maps to 422
    /// Unprocessable Entity.
    #[error("question {0} is not an open question")]
    NotAnOpenQuestion(QuestionId),
    /// This answer already has its points (graded before, or left unanswered and scored 0 at
    /// submission). Maps to 409 Conflict.
    #[error("the answer to question {question} of attempt {attempt} is already graded")]
    AnswerAlreadyGraded {
        /// The attempt.
        attempt: AttemptId,
        /// The question.
        question: QuestionId,
    },
    /// Points must be from 0 to what the question is worth. Maps to 422 Unprocessable Entity.
    #[error("{points} points is outside 0..={max}")]
    PointsOutOfRange {
        /// The points given.
        points: i64,
        /// What the question is worth.
        max: u32,
    },
    /// The feedback is too long. Maps to 422 Unprocessable Entity.
    #[error("feedback can have at most {max} characters")]
    FeedbackTooLong {
        /// The limit.
        max: usize,
    },
    /// Another command changed the assessment or attempt between this command's read and its
    /// write. Maps to 409 Conflict: reload and try again.
    #[error("{0} was changed by someone else meanwhile")]
    ConcurrentChange(String),
    /// The course refused or failed: reading it, or linking the assessment to a lesson
    /// (`LessonNotFound` 404, `NotAnAssessmentLesson` 422, `AssessmentAlreadyLinked` or
    /// `Archived` 409; storage failures 500). Map as the course error maps; log the source.
    #[error("the course refused or failed")]
    Course(#[source] CourseError),
    /// Reading the learner's enrollment failed. Maps to 500; log the source.
    #[error("reading the enrollment failed")]
    Enrollment(#[source] EnrollmentError),
    /// A stored assessment or attempt does not hold together (edited by hand?). Maps to 500.
    #[error("stored assessment data {id} is malformed: {reason}")]
    Corrupt {
        /// The row's id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed. Maps to 500 (503 if it is unreachable); log the source, never show it.
    #[error("assessment storage error")]
    Database(#[from] sqlx::Error),
    /// The unit of work could not commit (a listener failed, or the database did). Maps to 500;
    /// log the source.
    #[error("the assessment command could not be committed")]
    UnitOfWork(#[from] UowError),
}
