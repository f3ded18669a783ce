//! Adapters that connect contexts through their ports: where an upstream context needs
//! downstream data, `app` implements the upstream port over the downstream crate.

use async_trait::async_trait;
use course::{EnrollmentCounts, EnrollmentCountsError, EnrollmentTally};
use shared_kernel::CourseId;
use shared_kernel::sqlx::AnyConnection;

/// Course's `EnrollmentCounts` port, answered by enrollment's repository inside the command's
/// transaction.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnrollmentCountsFromEnrollments;

#[async_trait]
impl EnrollmentCounts for EnrollmentCountsFromEnrollments {
    async fn tally(
        &self,
        conn: &mut AnyConnection,
        course: CourseId,
    ) -> Result<EnrollmentTally, EnrollmentCountsError> {
        enrollment::tally(conn, course)
            .await
            .map_err(EnrollmentCountsError::new)
    }
}
