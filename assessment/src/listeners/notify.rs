//! The learner's notification of a graded attempt.

use std::sync::Arc;

use async_trait::async_trait;
use shared_kernel::notifications::{NotificationSender, notification_queue_options};
use shared_kernel::{Envelope, JobContext, JobFailure, ListenerError, QueueOptions, QueuedListener};

use crate::events::AssessmentGraded;
use crate::notifications::AssessmentResult;

/// Sends [`AssessmentResult`] to the learner whose attempt was graded (queue `notifications`).
/// The notifier deduplicates by the job's `(event, listener)`, so a retried job sends once.
#[derive(Clone)]
pub struct NotifyUserOfGradedAssessment {
    notifier: Arc<dyn NotificationSender>,
}

impl NotifyUserOfGradedAssessment {
    /// Sends through `notifier`.
    pub fn new(notifier: Arc<dyn NotificationSender>) -> Self {
        Self { notifier }
    }

    /// Queue `notifications`, 5 tries, backoff 10 s, 30 s, 2 min, 5 min, 30 s per try: mail can
    /// wait for a flaky server for a while.
    pub fn queue_options() -> QueueOptions {
        notification_queue_options()
    }
}

#[async_trait]
impl QueuedListener<AssessmentGraded> for NotifyUserOfGradedAssessment {
    const NAME: &'static str = "NotifyUserOfGradedAssessment";
    // Database work only, through the job's unit of work.
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<AssessmentGraded>, job: &mut JobContext) -> Result<(), ListenerError> {
        let graded = event.event();
        self.notifier
            .send(job, graded.user_id, &AssessmentResult::new(graded))
            .await?;
        Ok(())
    }

    async fn failed(&self, event: &Envelope<AssessmentGraded>, failure: &JobFailure) {
        tracing::error!(
            attempt = %event.event().attempt_id,
            user = %event.event().user_id,
            error = %failure.error,
            attempts = failure.attempts,
            "the graded-assessment notification could not be sent"
        );
    }
}
