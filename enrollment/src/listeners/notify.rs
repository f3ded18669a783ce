//! The learner notifications: a welcome on enrollment, a congratulation on completion.

use std::sync::Arc;

use async_trait::async_trait;
use shared_kernel::notifications::{NotificationSender, notification_queue_options};
use shared_kernel::{Envelope, JobContext, JobFailure, ListenerError, QueueOptions, QueuedListener};

use crate::events::{EnrollmentCompleted, UserEnrolled};
use crate::notifications::{CourseCompleted, WelcomeToCourse};

/// Sends [`WelcomeToCourse`] to a learner who enrolled (queue `notifications`).
#[derive(Clone)]
pub struct SendWelcomeNotification {
    notifier: Arc<dyn NotificationSender>,
}

impl SendWelcomeNotification {
    /// Sends through `notifier`.
    pub fn new(notifier: Arc<dyn NotificationSender>) -> Self {
        Self { notifier }
    }

    /// Queue `notifications`, 5 tries, backoff 10 s, 30 s, 2 min, 5 min, 30 s per try.
    pub fn queue_options() -> QueueOptions {
        notification_queue_options()
    }
}

#[async_trait]
impl QueuedListener<UserEnrolled> for SendWelcomeNotification {
    const NAME: &'static str = "SendWelcomeNotification";
    // Database work only, through the job's unit of work.
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<UserEnrolled>, job: &mut JobContext) -> Result<(), ListenerError> {
        let enrolled = event.event();
        let welcome = WelcomeToCourse::new(enrolled.course_id, enrolled.course_title.clone());
        self.notifier.send(job, enrolled.user_id, &welcome).await?;
        Ok(())
    }

    async fn failed(&self, event: &Envelope<UserEnrolled>, failure: &JobFailure) {
        tracing::error!(
            enrollment = %event.event().enrollment_id,
            user = %event.event().user_id,
            error = %failure.error,
            attempts = failure.attempts,
            "the welcome notification could not be sent"
        );
    }
}

/// Sends [`CourseCompleted`] to a learner who completed a course (queue `notifications`).
#[derive(Clone)]
pub struct SendCompletionCongratulations {
    notifier: Arc<dyn NotificationSender>,
}

impl SendCompletionCongratulations {
    /// Sends through `notifier`.
    pub fn new(notifier: Arc<dyn NotificationSender>) -> Self {
        Self { notifier }
    }

    /// Queue `notifications`, 5 tries, backoff 10 s, 30 s, 2 min, 5 min, 30 s per try.
    pub fn queue_options() -> QueueOptions {
        notification_queue_options()
    }
}

#[async_trait]
impl QueuedListener<EnrollmentCompleted> for SendCompletionCongratulations {
    const NAME: &'static str = "SendCompletionCongratulations";
    // Database work only, through the job's unit of work.
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<EnrollmentCompleted>, job: &mut JobContext) -> Result<(), ListenerError> {
        let completed = event.event();
        let congratulations = CourseCompleted::new(
            completed.course_id,
            completed.course_title.clone(),
            completed.enrollment_id,
        );
        self.notifier.send(job, completed.user_id, &congratulations).await?;
        Ok(())
    }

    async fn failed(&self, event: &Envelope<EnrollmentCompleted>, failure: &JobFailure) {
        tracing::error!(
            enrollment = %event.event().enrollment_id,
            user = %event.event().user_id,
            error = %failure.error,
            attempts = failure.attempts,
            "the completion congratulation could not be sent"
        );
    }
}
