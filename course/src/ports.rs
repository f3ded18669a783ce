//! What this context needs from downstream contexts, as ports that `app` plugs adapters into.
//! `course` never depends on `enrollment`, yet `CourseUnpublished` and `CourseArchived` report
//! enrollment counts: they come through [`EnrollmentCounts`].

use async_trait::async_trait;
use shared_kernel::CourseId;
use shared_kernel::sqlx::AnyConnection;

/// How many enrollments a course has, by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnrollmentTally {
    /// Enrollments in progress.
    pub active: u64,
    /// Enrollments completed.
    pub completed: u64,
    /// Every enrollment ever made, whatever its state.
    pub total: u64,
}

/// The enrollment counts could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the course's enrollments could not be counted")]
pub struct EnrollmentCountsError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl EnrollmentCountsError {
    /// Wraps the adapter's own error.
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(source))
    }
}

/// Counts a course's enrollments. `app` implements it over enrollment's repository.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EnrollmentCounts: Send + Sync + 'static {
    /// The course's enrollments by state, read through `conn` (the command's transaction, so
    /// the counts are consistent with the change being made).
    ///
    /// # Errors
    /// [`EnrollmentCountsError`] when storage fails; the command then fails with
    /// [`CourseError::EnrollmentCounts`](crate::CourseError::EnrollmentCounts) and changes nothing.
    async fn tally(&self, conn: &mut AnyConnection, course: CourseId)
    -> Result<EnrollmentTally, EnrollmentCountsError>;
}
