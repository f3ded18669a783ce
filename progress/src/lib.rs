//! # progress
//!
//! The progress bounded context: a learner's progress through each lesson of an enrollment
//! ([`LessonProgress`]: completion, time spent, partial progress) and the course progress that
//! follows from it (completed lessons / lessons of the course; reaching 100 % completes the
//! enrollment, exactly once).
//!
//! * Commands: [`ProgressService`] (complete a lesson, idempotently, recording
//!   [`LessonCompleted`]; record time spent; update partial progress, recording the broadcast-only
//!   [`ProgressUpdated`]).
//! * Sync listener: [`RecalculateCourseProgress`] on [`LessonCompleted`], through the
//!   [`ProgressTracking`] port; [`CourseProgressTracker`] is the real adapter, which stores the
//!   progress and completes the enrollment through enrollment's in-unit-of-work API.
//! * Sync listener: [`CompleteLessonOnPassedAssessment`] on assessment's `AssessmentGraded`:
//!   passing an assessment lesson completes the lesson (and so may complete the enrollment) in
//!   the grading's transaction.
//! * Step for a listener completing a lesson inside another command's unit of work:
//!   [`complete_lesson_in`].
//! * Reads: [`lesson_progress`], [`total_time_spent`].
//! * Learning records: [`xapi_mappings`] adds this context's events that map to xAPI
//!   statements (`impl ToXapi` in `xapi.rs`; see the README's mapping table).
//! * Schema: [`migrator`] (versions 5xxx; run after course's and enrollment's).
//!
//! ```text
//! registry
//!     .listen_all_sync(LogDomainEvent, &[ProgressUpdated::NAME])     // broadcast only
//!     .event::<ProgressUpdated>()
//!     .listen_sync::<LessonCompleted, _>(RecalculateCourseProgress::new(Arc::new(CourseProgressTracker)))
//!     .listen_sync::<AssessmentGraded, _>(CompleteLessonOnPassedAssessment::new());
//! let progress = ProgressService::new(bus.clone());
//! progress.complete_lesson(learner, enrollment, lesson).await?;  // LessonCompleted (+ EnrollmentCompleted at 100 %)
//! ```

mod domain;
mod error;
mod events;
/// The channels this context's events broadcast on: each learner's own `private-user.{id}`.
pub const BROADCAST_CHANNELS: &[shared_kernel::broadcast::ChannelRule] = &[shared_kernel::broadcast::ChannelRule::USER];

pub mod http;
mod listeners;
mod ports;
mod repository;
mod service;
mod xapi;

pub use domain::{InvalidTimeSpent, LessonProgress, TimeSpent};
pub use error::ProgressError;
pub use events::{LessonCompleted, ProgressUpdated};
pub use listeners::{CompleteLessonOnPassedAssessment, RecalculateCourseProgress};
#[cfg(any(test, feature = "mocks"))]
pub use ports::MockProgressTracking;
pub use ports::ProgressTracking;
pub use service::{
    CourseProgressTracker, LessonCompletion, ProgressService, complete_lesson_in, lesson_progress, total_time_spent,
};
pub use xapi::xapi_mappings;

/// The progress context's migrations (versions 5xxx), tolerant of the other crates' versions in
/// the shared migrations table.
pub fn migrator() -> sqlx::migrate::Migrator {
    shared_kernel::shared_migrator(sqlx::migrate!("./migrations"))
}
