//! # course
//!
//! The course bounded context: courses, their ordered lessons (content or assessment), and
//! their lifecycle `draft → published → draft`, `draft | published → archived` (final).
//! Publishing needs at least one lesson.
//!
//! * Commands: [`CourseService`] (create, update details, add / reorder / remove lessons,
//!   publish, unpublish, archive). Publishing, unpublishing and archiving record
//!   [`CoursePublished`], [`CourseUnpublished`] and [`CourseArchived`].
//! * Reads for other contexts: [`find`] (a [`Course`] with its lessons, status and title) and
//!   [`lessons_of`].
//! * Port: [`EnrollmentCounts`], which `app` implements over enrollment's repository, since
//!   this crate never depends on `enrollment`.
//! * Schema: [`migrator`] (versions 2xxx).
//!
//! ```text
//! // app's adapter of the port answers from enrollment's `tally`
//! let courses = CourseService::new(bus.clone(), Arc::new(enrollment_counts));
//! let id = courses.create(instructor, "Rust Dasar", "Belajar Rust dari nol").await?;
//! courses.add_lesson(instructor, id, "Pengenalan", LessonKind::Content).await?;
//! courses.publish(instructor, id).await?;       // CoursePublished, broadcast on `courses`
//! ```

mod domain;
mod error;
mod events;
/// The channels this context's events broadcast on: the public catalog `courses` and each
/// course's `course.{id}`.
pub const BROADCAST_CHANNELS: &[shared_kernel::broadcast::ChannelRule] = &[
    shared_kernel::broadcast::ChannelRule::Public("courses"),
    shared_kernel::broadcast::ChannelRule::PublicPerId("course."),
];

pub mod http;
mod ports;
mod repository;
mod service;

pub use domain::{Course, CourseStatus, InvalidTransition, Lesson, LessonKind, Title, TitleError};
pub use error::CourseError;
pub use events::{CourseArchived, CoursePublished, CourseUnpublished};
#[cfg(any(test, feature = "mocks"))]
pub use ports::MockEnrollmentCounts;
pub use ports::{EnrollmentCounts, EnrollmentCountsError, EnrollmentTally};
pub use service::{CourseService, find, lessons_of, link_assessment_in};

/// The course context's migrations (versions 2xxx), tolerant of the other crates' versions in
/// the shared migrations table.
pub fn migrator() -> sqlx::migrate::Migrator {
    shared_kernel::shared_migrator(sqlx::migrate!("./migrations"))
}
