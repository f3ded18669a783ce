//! # enrollment
//!
//! The enrollment bounded context: a learner's [`Enrollment`] in a published course, its
//! lifecycle (`active → completed`, `active → dropped → active`; a completed enrollment is
//! final, one active enrollment per learner and course), its progress percentage, the
//! [`Certificate`] of a completed enrollment, and the learner notifications.
//!
//! * Commands: [`EnrollmentService`] (enroll, drop out, re-enroll, complete), recording
//!   [`UserEnrolled`], [`UserDropped`], [`UserReenrolled`] and [`EnrollmentCompleted`].
//! * Steps for other contexts, inside their unit of work: [`enroll_in`] (learning-path),
//!   [`set_progress_in`] and [`complete_in`] (progress).
//! * Reads: [`find`], [`find_active`], [`tally`] (what `app`'s adapter of course's
//!   `EnrollmentCounts` port returns), [`certificate_of`], [`verify_certificate`].
//! * Queued listeners, each with its `queue_options()`: [`SendWelcomeNotification`] on
//!   [`UserEnrolled`]; [`SendCompletionCongratulations`] and [`GenerateCertificate`] on
//!   [`EnrollmentCompleted`]. The notifications are [`WelcomeToCourse`] and [`CourseCompleted`].
//! * Learning records: [`xapi_mappings`] adds this context's events that map to xAPI
//!   statements (`impl ToXapi` in `xapi.rs`; see the README's mapping table).
//! * Schema: [`migrator`] (versions 3xxx; run after course's).
//!
//! ```text
//! registry
//!     .listen_queued::<UserEnrolled, _>(SendWelcomeNotification::new(notifier.clone()),
//!                                       SendWelcomeNotification::queue_options())
//!     .listen_queued::<EnrollmentCompleted, _>(SendCompletionCongratulations::new(notifier),
//!                                              SendCompletionCongratulations::queue_options())
//!     .listen_queued::<EnrollmentCompleted, _>(GenerateCertificate::new(),
//!                                              GenerateCertificate::queue_options());
//! let enrollments = EnrollmentService::new(bus.clone());
//! let id = enrollments.enroll(learner, learner, course).await?;   // UserEnrolled
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
    Certificate, DropReason, Enrollment, EnrollmentStatus, InvalidTransition, Percentage, PercentageError,
    VerificationCode,
};
pub use error::EnrollmentError;
pub use events::{EnrollmentCompleted, UserDropped, UserEnrolled, UserReenrolled};
pub use listeners::{
    DEFAULT_REMINDER_AFTER, EnrollmentNotifications, GenerateCertificate, RemindInactiveLearner,
    SendCompletionCongratulations, SendWelcomeNotification,
};
pub use notifications::{CourseCompleted, InactivityReminder, WelcomeToCourse};
pub use service::{
    EnrollmentService, certificate_of, complete_in, enroll_in, find, find_active, has_completed, of_learner,
    set_progress_in, tally, verify_certificate,
};
pub use xapi::xapi_mappings;

/// The enrollment context's migrations (versions 3xxx), tolerant of the other crates' versions
/// in the shared migrations table.
pub fn migrator() -> sqlx::migrate::Migrator {
    shared_kernel::shared_migrator(sqlx::migrate!("./migrations"))
}
