//! The enrollment context's queued listeners. Each offers its recommended
//! [`QueueOptions`](shared_kernel::QueueOptions) as `queue_options()` for `app` to register it with.

mod certificate;
mod notify;
mod reminder;
mod subscriber;

pub use certificate::GenerateCertificate;
pub use notify::{SendCompletionCongratulations, SendWelcomeNotification};
pub use reminder::{DEFAULT_REMINDER_AFTER, RemindInactiveLearner};
pub use subscriber::EnrollmentNotifications;
