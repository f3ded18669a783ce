//! What a worker did, counted as it runs: the report it returns and the progress others read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::Outcome;

/// What a worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs that succeeded and were acknowledged.
    pub processed: u64,
    /// Failed tries scheduled for a retry.
    pub retried: u64,
    /// Jobs moved to `failed_jobs`.
    pub failed: u64,
    /// Jobs given back on shutdown (unstarted, or cut short by the grace period).
    pub released: u64,
    /// Claims that found no ready job (each one statement, on SQLite a write transaction).
    pub empty_claims: u64,
}

/// A running worker's counts so far, for progress displays ([`Worker::progress`]).
#[derive(Debug, Clone)]
pub struct WorkerProgress(pub(super) Arc<Counters>);

impl WorkerProgress {
    /// What the worker has done so far.
    pub fn report(&self) -> WorkerReport {
        self.0.report()
    }

    /// How many of its slots are waiting for work right now (found no ready job).
    pub fn idle_slots(&self) -> usize {
        self.0.idle.load(Ordering::Acquire)
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) processed: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) released: AtomicU64,
    pub(super) empty_claims: AtomicU64,
    /// Slots waiting for work; shared with the watch for other processes' commits.
    pub(super) idle: Arc<AtomicUsize>,
}

/// Counts a slot as idle while it lives.
pub(super) struct IdleSlot<'a>(&'a AtomicUsize);

impl<'a> IdleSlot<'a> {
    pub(super) fn enter(idle: &'a AtomicUsize) -> Self {
        idle.fetch_add(1, Ordering::AcqRel);
        Self(idle)
    }
}

impl Drop for IdleSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Counters {
    pub(super) fn report(&self) -> WorkerReport {
        WorkerReport {
            processed: self.processed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            released: self.released.load(Ordering::Relaxed),
            empty_claims: self.empty_claims.load(Ordering::Relaxed),
        }
    }
}

pub(super) fn bump(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

/// Counts a job's outcome (one given back or taken by another worker counts nowhere).
pub(super) fn tally(counters: &Counters, outcome: &Outcome) {
    match outcome {
        Outcome::AckLater(_) | Outcome::Done => bump(&counters.processed, 1),
        Outcome::Retried => bump(&counters.retried, 1),
        Outcome::Failed => bump(&counters.failed, 1),
        Outcome::CutShort => bump(&counters.released, 1),
        Outcome::LeaseLost | Outcome::Deferred => {}
    }
}
