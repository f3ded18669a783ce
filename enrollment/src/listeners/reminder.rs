//! The inactivity reminder: a set time after a learner enrolled (3 days by default), if they have
//! completed no lesson of the course and the enrollment is still active, they are reminded to
//! start; otherwise nothing happens. A delayed queued listener: its job is written with the
//! enrollment and becomes ready only when the reminder is due, so it survives restarts and runs
//! on whichever worker is free then.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use shared_kernel::notifications::{NotificationSender, notification_queue_options};
use shared_kernel::{Envelope, JobContext, JobFailure, ListenerError, QueueOptions, QueuedListener};

use crate::events::UserEnrolled;
use crate::notifications::InactivityReminder;
use crate::repository;

/// How long after enrolling a learner who has not started is reminded, by default.
pub const DEFAULT_REMINDER_AFTER: Duration = Duration::from_secs(3 * 24 * 60 * 60);

/// Reminds a learner who enrolled and has not completed a lesson since (queue `notifications`,
/// delayed by `after`).
#[derive(Clone)]
pub struct RemindInactiveLearner {
    notifier: Arc<dyn NotificationSender>,
    after: Duration,
}

impl RemindInactiveLearner {
    /// Reminds through `notifier`, `after` the enrollment.
    pub fn new(notifier: Arc<dyn NotificationSender>, after: Duration) -> Self {
        Self { notifier, after }
    }

    /// The notification queue's options, delayed by `after`.
    pub fn queue_options(after: Duration) -> QueueOptions {
        notification_queue_options().delay(after)
    }
}

#[async_trait]
impl QueuedListener<UserEnrolled> for RemindInactiveLearner {
    const NAME: &'static str = "RemindInactiveLearner";
    // Database work only, through the job's unit of work.
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<UserEnrolled>, job: &mut JobContext) -> Result<(), ListenerError> {
        let enrolled = event.event();
        let conn = job.uow().conn().await?;
        let Some(enrollment) = repository::load(conn, enrolled.enrollment_id)
            .await
            .map_err(ListenerError::new)?
        else {
            return Ok(());
        };
        // Dropped, completed, or started (course progress counts completed lessons): nothing.
        if !enrollment.is_active() || enrollment.progress().value() > 0.0 {
            return Ok(());
        }
        let days = self.after.as_secs().div_ceil(24 * 60 * 60).max(1);
        let reminder = InactivityReminder::new(enrolled.course_id, enrolled.course_title.clone(), days);
        self.notifier.send(job, enrolled.user_id, &reminder).await?;
        Ok(())
    }

    async fn failed(&self, event: &Envelope<UserEnrolled>, failure: &JobFailure) {
        tracing::error!(
            enrollment = %event.event().enrollment_id,
            user = %event.event().user_id,
            error = %failure.error,
            attempts = failure.attempts,
            "the inactivity reminder could not be sent"
        );
    }
}
