//! The port `RecalculateCourseProgress` works through, so the listener is tested with a mock
//! and the rule lives in one adapter ([`CourseProgressTracker`](crate::CourseProgressTracker)).

use async_trait::async_trait;
use enrollment::Percentage;
use shared_kernel::{EnrollmentId, UnitOfWork};

use crate::error::ProgressError;

/// Keeps an enrollment's course progress up to date.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ProgressTracking: Send + Sync + 'static {
    /// Recomputes the enrollment's course progress (completed lessons / lessons of the course)
    /// inside `uow`, stores it on the enrollment and, on reaching 100 %, completes the
    /// enrollment, recording `EnrollmentCompleted` in `uow`. Returns the progress.
    ///
    /// # Errors
    /// [`ProgressError::EnrollmentNotFound`], [`ProgressError::CourseNotFound`],
    /// [`ProgressError::Enrollment`] (e.g. a concurrent change), storage failures. The caller
    /// (a sync listener) fails, and so the whole command rolls back.
    async fn recalculate_course_progress(
        &self,
        uow: &mut UnitOfWork,
        enrollment: EnrollmentId,
    ) -> Result<Percentage, ProgressError>;
}
