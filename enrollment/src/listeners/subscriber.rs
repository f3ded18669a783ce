//! [`EnrollmentNotifications`]: the enrollment context's notification handlers, registered as
//! one subscriber.

use std::sync::Arc;
use std::time::Duration;

use shared_kernel::notifications::NotificationSender;
use shared_kernel::{EventSubscriber, RegistryBuilder};

use super::{RemindInactiveLearner, SendCompletionCongratulations, SendWelcomeNotification};
use crate::events::{EnrollmentCompleted, UserEnrolled};

/// What a learner is told about their enrollments: the welcome, the inactivity reminder (after
/// `reminder_after`) and the congratulation on completion. Each stays a queued listener of its
/// own (its own job, retries and failures).
#[derive(Clone)]
pub struct EnrollmentNotifications {
    notifier: Arc<dyn NotificationSender>,
    reminder_after: Duration,
}

impl EnrollmentNotifications {
    /// The handlers, sending through `notifier`.
    pub fn new(notifier: Arc<dyn NotificationSender>, reminder_after: Duration) -> Self {
        Self {
            notifier,
            reminder_after,
        }
    }
}

impl EventSubscriber for EnrollmentNotifications {
    fn subscribe(self, registry: RegistryBuilder) -> RegistryBuilder {
        registry
            .listen_queued::<UserEnrolled, _>(
                SendWelcomeNotification::new(self.notifier.clone()),
                SendWelcomeNotification::queue_options(),
            )
            .listen_queued::<UserEnrolled, _>(
                RemindInactiveLearner::new(self.notifier.clone(), self.reminder_after),
                RemindInactiveLearner::queue_options(self.reminder_after),
            )
            .listen_queued::<EnrollmentCompleted, _>(
                SendCompletionCongratulations::new(self.notifier),
                SendCompletionCongratulations::queue_options(),
            )
    }
}
