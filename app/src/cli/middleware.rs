//! How `event list` shows a queued listener's middleware and priority.

use std::fmt::Write as _;

use shared_kernel::{Priority, QueueOptions};

/// ` priority=high max_exceptions=2 rate=10/s without_overlapping(wait=200ms)`, each part only
/// when it differs from the default; empty for a listener that declares none.
pub(crate) fn describe(options: &QueueOptions) -> String {
    let mut out = String::new();
    if options.job_priority() != Priority::Normal {
        let _ = write!(out, " priority={}", options.job_priority().as_str());
    }
    if options.has_max_exceptions() {
        let _ = write!(out, " max_exceptions={}", options.exception_limit());
    }
    if let Some(limit) = options.rate_limited() {
        let _ = write!(out, " rate={limit}");
    }
    if let Some(wait) = options.overlap_wait() {
        let _ = write!(out, " without_overlapping(wait={wait:?})");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shared_kernel::RateLimit;

    use super::*;

    #[test]
    fn only_declared_middleware_is_shown() {
        assert_eq!(describe(&QueueOptions::on("default")), "");
        let options = QueueOptions::on("notifications")
            .tries(5)
            .priority(Priority::High)
            .max_exceptions(2)
            .rate_limit(RateLimit::parse("10/s").unwrap())
            .without_overlapping(Duration::from_millis(200));
        assert_eq!(
            describe(&options),
            " priority=high max_exceptions=2 rate=10/s without_overlapping(wait=200ms)"
        );
    }
}
