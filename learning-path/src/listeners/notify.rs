//! The learner notifications: a welcome on enrolling in a path, a congratulation on completing
//! one.

use std::sync::Arc;

use async_trait::async_trait;
use shared_kernel::notifications::{NotificationSender, notification_queue_options};
use shared_kernel::{Envelope, JobContext, JobFailure, ListenerError, QueueOptions, QueuedListener};

use crate::events::{PathCompleted, PathEnrollmentCreated};
use crate::notifications::{LearningPathCompleted, WelcomeToLearningPath};

/// Sends [`WelcomeToLearningPath`] to a learner who enrolled in a path (queue `notifications`),
/// by mail and in the database, once per job however often it runs.
#[derive(Clone)]
pub struct SendPathEnrollmentWelcome {
    notifier: Arc<dyn NotificationSender>,
}

impl SendPathEnrollmentWelcome {
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
impl QueuedListener<PathEnrollmentCreated> for SendPathEnrollmentWelcome {
    const NAME: &'static str = "SendPathEnrollmentWelcome";
    // Database work only, through the job's unit of work.
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<PathEnrollmentCreated>, job: &mut JobContext) -> Result<(), ListenerError> {
        let created = event.event();
        let welcome = WelcomeToLearningPath::new(created.path_id, created.path_title.clone());
        self.notifier.send(job, created.user_id, &welcome).await?;
        Ok(())
    }

    async fn failed(&self, event: &Envelope<PathEnrollmentCreated>, failure: &JobFailure) {
        tracing::error!(
            path_enrollment = %event.event().path_enrollment_id,
            user = %event.event().user_id,
            error = %failure.error,
            attempts = failure.attempts,
            "the learning path welcome could not be sent"
        );
    }
}

/// Sends [`LearningPathCompleted`] to a learner who completed a path (queue `notifications`),
/// by mail and in the database, once per job however often it runs.
#[derive(Clone)]
pub struct SendPathCompletionCongratulations {
    notifier: Arc<dyn NotificationSender>,
}

impl SendPathCompletionCongratulations {
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
impl QueuedListener<PathCompleted> for SendPathCompletionCongratulations {
    const NAME: &'static str = "SendPathCompletionCongratulations";
    // Database work only, through the job's unit of work.
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &Envelope<PathCompleted>, job: &mut JobContext) -> Result<(), ListenerError> {
        let completed = event.event();
        let congratulations = LearningPathCompleted::new(completed.path_id, completed.path_title.clone());
        self.notifier.send(job, completed.user_id, &congratulations).await?;
        Ok(())
    }

    async fn failed(&self, event: &Envelope<PathCompleted>, failure: &JobFailure) {
        tracing::error!(
            path_enrollment = %event.event().path_enrollment_id,
            user = %event.event().user_id,
            error = %failure.error,
            attempts = failure.attempts,
            "the learning path congratulation could not be sent"
        );
    }
}
