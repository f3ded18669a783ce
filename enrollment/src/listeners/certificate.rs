//! The certificate of a completed enrollment.

use std::time::Duration;

use async_trait::async_trait;
use shared_kernel::{Envelope, JobContext, JobFailure, ListenerError, QueueOptions, QueuedListener};

use crate::domain::EnrollmentStatus;
use crate::events::EnrollmentCompleted;
use crate::repository;

/// Issues the certificate of a completed enrollment (queue `certificates`): exactly one per
/// enrollment, with a unique public verification code, however often the job runs. Its write
/// goes through the job's unit of work, so it commits together with the job's acknowledgement.
#[derive(Debug, Default, Clone, Copy)]
pub struct GenerateCertificate;

impl GenerateCertificate {
    /// A certificate generator.
    pub fn new() -> Self {
        Self
    }

    /// Queue `certificates`, 5 tries, backoff 5 s, 30 s, 2 min, 30 s per try: only the database
    /// is involved, so a failure is most likely a short outage.
    pub fn queue_options() -> QueueOptions {
        QueueOptions::on("certificates")
            .tries(5)
            .backoff([
                Duration::from_secs(5),
                Duration::from_secs(30),
                Duration::from_secs(120),
            ])
            .timeout(Duration::from_secs(30))
    }
}

#[async_trait]
impl QueuedListener<EnrollmentCompleted> for GenerateCertificate {
    const NAME: &'static str = "GenerateCertificate";
    // Database work only, through the job's unit of work.
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<EnrollmentCompleted>, job: &mut JobContext) -> Result<(), ListenerError> {
        let enrollment_id = event.event().enrollment_id;
        let now = job.bus().clock().now();
        let conn = job.uow().conn().await?;
        let enrollment = repository::load(conn, enrollment_id)
            .await
            .map_err(ListenerError::new)?
            .ok_or_else(|| ListenerError::permanent(format!("enrollment {enrollment_id} no longer exists")))?;
        if enrollment.status() != EnrollmentStatus::Completed {
            return Err(ListenerError::permanent(format!(
                "enrollment {enrollment_id} is {}, not completed",
                enrollment.status()
            )));
        }
        let certificate = repository::issue_certificate_once(conn, &enrollment, now)
            .await
            .map_err(ListenerError::new)?;
        tracing::info!(
            enrollment = %enrollment_id,
            certificate = %certificate.id(),
            "certificate issued"
        );
        Ok(())
    }

    async fn failed(&self, event: &Envelope<EnrollmentCompleted>, failure: &JobFailure) {
        tracing::error!(
            enrollment = %event.event().enrollment_id,
            error = %failure.error,
            attempts = failure.attempts,
            "no certificate could be issued"
        );
    }
}
