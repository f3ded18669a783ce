//! What a running worker does besides jobs: catching up listeners registered as catch-up,
//! pruning the broadcast log after its retention, and sampling the queue depths once a minute
//! for the events dashboard's chart ([`depth_history`](super::depth_history)).

use std::time::Duration;

use super::Queue;
use super::depth_history::DEPTH_HISTORY_RETENTION;
use crate::bus::EventBus;

/// How long broadcasts are kept for clients that resume, by default (24 h).
pub const DEFAULT_BROADCAST_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// How often a running worker prunes the broadcast log and the depth samples.
pub(super) const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How often a running worker samples the queue depths: twice a minute, so that no minute goes
/// without a sample (the first sample of a minute is kept, later ones are no-ops).
pub(super) const SAMPLE_EVERY: Duration = Duration::from_secs(30);

/// Samples the queue depths every [`SAMPLE_EVERY`] and deletes broadcasts older than the
/// retention (and depth samples older than a day) every [`PRUNE_EVERY`], while the worker runs.
pub(super) struct PruneTask(tokio::task::JoinHandle<()>);

impl PruneTask {
    pub(super) fn start(bus: &EventBus, retention: Duration, queues: &[String]) -> Self {
        let bus = bus.clone();
        let queues = queues.to_vec();
        Self(tokio::spawn(async move {
            let queue = Queue::new(bus.clone());
            let mut last_prune: Option<tokio::time::Instant> = None;
            loop {
                if let Err(e) = queue.sample_depths(&queues).await {
                    tracing::warn!(error = %e, "sampling the queue depths failed; trying again later");
                }
                if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                    last_prune = Some(tokio::time::Instant::now());
                    prune(&bus, &queue, retention).await;
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
        }))
    }
}

async fn prune(bus: &EventBus, queue: &Queue, retention: Duration) {
    let now = bus.clock().now();
    let cutoff = now - chrono::Duration::from_std(retention).unwrap_or(chrono::TimeDelta::MAX);
    match crate::broadcast::log::prune(bus.db(), cutoff).await {
        Ok(0) => {}
        Ok(deleted) => tracing::debug!(deleted, "pruned the broadcast log"),
        Err(e) => tracing::warn!(error = %e, "pruning the broadcast log failed; trying again later"),
    }
    let samples_cutoff = now - chrono::Duration::from_std(DEPTH_HISTORY_RETENTION).unwrap_or(chrono::TimeDelta::MAX);
    if let Err(e) = queue.prune_depth_history(samples_cutoff).await {
        tracing::warn!(error = %e, "pruning the queue depth samples failed; trying again later");
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
