//! # assessment
//!
//! The assessment bounded context: an [`Assessment`] of a course (possibly one of its assessment
//! lessons) with its ordered [`Question`]s — multiple choice, graded automatically (all the
//! points iff the chosen set equals the correct set), or open, graded by the instructor — a
//! passing score, a maximum number of attempts and an optional time limit; and the learners'
//! [`Attempt`]s: `in_progress → submitted → graded` (or straight to `graded` when nothing needs
//! the instructor), one in progress per learner, for actively enrolled learners only.
//!
//! * Commands: [`AssessmentService`] — `create` and `update` (the course's instructor; frozen
//!   once attempted), `start_attempt` ([`AttemptStarted`]), `submit` ([`AssessmentSubmitted`],
//!   plus [`AssessmentGraded`] when auto-graded) and `grade_answer` ([`AnswerGraded`], plus
//!   [`AssessmentGraded`] with the last one). Drafts are [`NewAssessment`] / [`NewQuestion`];
//!   responses are [`Response`]s; outcomes [`SubmitOutcome`] / [`GradeOutcome`].
//! * [`AssessmentGraded`] carries the course, lesson and enrollment so that `progress`'s sync
//!   `CompleteLessonOnPassedAssessment` completes a passed assessment lesson in the grading's
//!   transaction; it is broadcast on the learner's private `user.{user_id}` channel.
//! * Reads: [`find`], [`find_attempt`], [`attempts_of`], [`awaiting_grading`] (an instructor's
//!   grading queue).
//! * Queued listener: [`NotifyUserOfGradedAssessment`] on [`AssessmentGraded`], with its
//!   `queue_options()`; the notification is [`AssessmentResult`].
//! * Errors: [`AssessmentError`], each variant saying the HTTP status it maps to.
//! * HTTP: [`http::routes`] (`app` mounts them) and [`http::api_error`].
//! * Learning records: [`xapi_mappings`] adds this context's events that map to xAPI
//!   statements (`impl ToXapi` in `xapi.rs`; see the README's mapping table).
//! * Schema: [`migrator`] (versions 4xxx; run after course's and enrollment's).
//!
//! ```text
//! registry
//!     .event::<AttemptStarted>()
//!     .event::<AssessmentSubmitted>()
//!     .event::<AnswerGraded>()
//!     .listen_queued::<AssessmentGraded, _>(NotifyUserOfGradedAssessment::new(notifier),
//!                                           NotifyUserOfGradedAssessment::queue_options());
//! let assessments = AssessmentService::new(bus.clone());
//! let quiz = assessments.create(instructor, course, Some(lesson), NewAssessment {
//!     title: "Kuis Akhir".into(), passing_score: 70, max_attempts: 3, time_limit_minutes: Some(30),
//!     questions: vec![NewQuestion::multiple_choice("Tipe teks milik sendiri?", &["String", "&str"], &[0], 5),
//!                     NewQuestion::open("Jelaskan ownership.", 5)],
//! }).await?;
//! let attempt = assessments.start_attempt(learner, quiz).await?;            // AttemptStarted
//! assessments.submit(learner, attempt, answers).await?;                      // AssessmentSubmitted
//! assessments.grade_answer(instructor, attempt, open, 4, Some("Bagus")).await?; // AnswerGraded, AssessmentGraded
//! ```

mod domain;
mod error;
mod events;
/// The channels this context's events broadcast on: each learner's own `private-user.{id}`.
pub const BROADCAST_CHANNELS: &[shared_kernel::broadcast::ChannelRule] = &[shared_kernel::broadcast::ChannelRule::USER];

pub mod http;
mod listeners;
mod notifications;
mod repository;
mod service;
mod xapi;

pub use domain::{
    Answer, Assessment, Attempt, AttemptStatus, Grade, MAX_FEEDBACK_CHARS, MaxAttempts, PassingScore, Question,
    QuestionError, QuestionKind, Response, SettingsError, TimeLimit,
};
pub use error::AssessmentError;
pub use events::{AnswerGraded, AssessmentGraded, AssessmentSubmitted, AttemptStarted};
pub use listeners::NotifyUserOfGradedAssessment;
pub use notifications::AssessmentResult;
pub use service::{
    AssessmentService, GradeOutcome, NewAssessment, NewQuestion, SubmitOutcome, attempts_of, awaiting_grading, find,
    find_attempt,
};
pub use xapi::xapi_mappings;

/// The assessment context's migrations (versions 4xxx), tolerant of the other crates' versions
/// in the shared migrations table.
pub fn migrator() -> sqlx::migrate::Migrator {
    shared_kernel::shared_migrator(sqlx::migrate!("./migrations"))
}
