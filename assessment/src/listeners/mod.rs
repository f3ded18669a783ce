//! The assessment context's queued listeners. Each offers its recommended
//! [`QueueOptions`](shared_kernel::QueueOptions) as `queue_options()` for `app` to register it with.

mod notify;

pub use notify::NotifyUserOfGradedAssessment;
