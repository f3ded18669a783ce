//! # learning-path
//!
//! The learning-path bounded context: a [`LearningPath`] (an ordered list of published courses,
//! put together by its owner as a draft, `draft → published`, its course list frozen once
//! published) and a learner's [`PathEnrollment`] in one (`active → completed`,
//! `active → dropped`; one active path enrollment per learner and path), each course unlocked
//! when the previous one is completed.
//!
//! * Commands: [`LearningPathService`] (create, add / remove a course, publish, enroll, drop
//!   out). Enrolling records [`PathEnrollmentCreated`], then [`CourseUnlockedInPath`] for the
//!   first course and enrolls the learner in it through `enrollment::enroll_in` (an active
//!   enrollment there is used instead; a course already completed is passed on to the next).
//!   Dropping out records [`PathDropped`] and leaves the course enrollments as they are.
//! * Queued listeners, each with its `queue_options()`: [`UpdatePathProgressOnCourseCompletion`]
//!   on enrollment's `EnrollmentCompleted` (queue `default`; unlocks and enrolls in the next
//!   course, or records [`PathCompleted`] after the last; idempotent),
//!   [`SendPathEnrollmentWelcome`] on [`PathEnrollmentCreated`] and
//!   [`SendPathCompletionCongratulations`] on [`PathCompleted`] (queue `notifications`). The
//!   notifications are [`WelcomeToLearningPath`] and [`LearningPathCompleted`].
//! * Reads: [`find`], [`find_enrollment`], [`enrollments_of`].
//! * Learning records: [`xapi_mappings`] adds this context's events that map to xAPI
//!   statements (`impl ToXapi` in `xapi.rs`; see the README's mapping table).
//! * Schema: [`migrator`] (versions 6xxx; run after course's and enrollment's).
//!
//! ```text
//! registry
//!     .listen_queued::<EnrollmentCompleted, _>(UpdatePathProgressOnCourseCompletion::new(),
//!                                              UpdatePathProgressOnCourseCompletion::queue_options())
//!     .listen_queued::<PathEnrollmentCreated, _>(SendPathEnrollmentWelcome::new(notifier.clone()),
//!                                                SendPathEnrollmentWelcome::queue_options())
//!     .event::<CourseUnlockedInPath>()
//!     .listen_queued::<PathCompleted, _>(SendPathCompletionCongratulations::new(notifier),
//!                                        SendPathCompletionCongratulations::queue_options())
//!     .event::<PathDropped>();
//! let paths = LearningPathService::new(bus.clone());
//! let path = paths.create(instructor, "Jalur Rust", "Dari dasar sampai mahir").await?;
//! paths.add_course(instructor, path, rust_dasar).await?;
//! paths.publish(instructor, path).await?;
//! let id = paths.enroll(learner, learner, path).await?;  // PathEnrollmentCreated, CourseUnlockedInPath, UserEnrolled
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
    DropReason, InvalidTransition, LearningPath, PathEnrollment, PathEnrollmentStatus, PathStatus, PathTitle,
};
pub use error::PathError;
pub use events::{CourseUnlockedInPath, PathCompleted, PathDropped, PathEnrollmentCreated};
pub use listeners::{
    SendPathCompletionCongratulations, SendPathEnrollmentWelcome, UpdatePathProgressOnCourseCompletion,
};
pub use notifications::{LearningPathCompleted, WelcomeToLearningPath};
pub use service::{LearningPathService, enrollments_of, find, find_enrollment};
pub use xapi::xapi_mappings;

/// The learning-path context's migrations (versions 6xxx), tolerant of the other crates'
/// versions in the shared migrations table. Run after course's and enrollment's.
pub fn migrator() -> sqlx::migrate::Migrator {
    shared_kernel::shared_migrator(sqlx::migrate!("./migrations"))
}
