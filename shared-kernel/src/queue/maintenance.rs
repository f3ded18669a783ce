//! What a running worker does besides jobs: catching up listeners registered as catch-up, and
//! pruning the broadcast log after its retention.

use std::time::Duration;

use crate::bus::EventBus;

/// How long broadcasts are kept for clients that resume, by default (24 h).
pub const DEFAULT_BROADCAST_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// How often a running worker prunes the broadcast log.
pub(super) const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Deletes broadcasts older than the retention every [`PRUNE_EVERY`], while the worker runs.
pub(super) struct PruneTask(tokio::task::JoinHandle<()>);

impl PruneTask {
    pub(super) fn start(bus: &EventBus, retention: Duration) -> Self {
        let bus = bus.clone();
        Self(tokio::spawn(async move {
            loop {
                let cutoff =
                    bus.clock().now() - chrono::Duration::from_std(retention).unwrap_or(chrono::TimeDelta::MAX);
                match crate::broadcast::log::prune(bus.db(), cutoff).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::debug!(deleted, "pruned the broadcast log"),
                    Err(e) => tracing::warn!(error = %e, "pruning the broadcast log failed; trying again later"),
                }
                tokio::time::sleep(PRUNE_EVERY).await;
            }
        }))
    }
}

impl Drop for PruneTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Replays the history to catch-up listeners not yet caught up
/// ([`audit::catch_up`](crate::audit::catch_up)), beside the worker's slots (which run the
/// jobs it enqueues); a failure is logged and tried again at the next start.
pub(super) struct CatchUpTask(tokio::task::JoinHandle<()>);

impl CatchUpTask {
    pub(super) fn start(bus: &EventBus) -> Self {
        let bus = bus.clone();
        Self(tokio::spawn(async move { catch_up(&bus).await }))
    }
}

impl Drop for CatchUpTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Catches up now (a worker that stops when empty does this before its first claim).
pub(super) async fn catch_up(bus: &EventBus) {
    let progress = |listener: &str, read: u64| tracing::info!(listener, read, "catching up");
    if let Err(e) = crate::audit::catch_up::catch_up(bus, progress).await {
        tracing::error!(error = %e, "catching up a listener failed; the next start tries again");
    }
}
