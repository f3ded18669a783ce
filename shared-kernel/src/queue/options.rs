//! [`WorkerOptions`]: how a worker runs.

use std::time::Duration;

use super::maintenance::DEFAULT_BROADCAST_RETENTION;

/// How many jobs share a transaction by default (see [`WorkerOptions::shared_transaction`]).
pub const DEFAULT_SHARED_JOBS: usize = 32;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub(super) queues: Vec<String>,
    pub(super) concurrency: usize,
    pub(super) batch_size: usize,
    pub(super) shared_jobs: usize,
    pub(super) lease: Duration,
    pub(super) poll_interval: Duration,
    pub(super) grace: Duration,
    pub(super) stop_when_empty: bool,
    pub(super) broadcast_retention: Duration,
}

impl WorkerOptions {
    /// Work `queues`, highest priority first: a job of a later queue runs only when no earlier
    /// queue has a ready job. Defaults: concurrency 1, batches of at most 100, 30 s lease
    /// (renewed while jobs run), 1 s poll, 30 s shutdown grace.
    pub fn new(queues: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            queues: queues.into_iter().map(Into::into).collect(),
            concurrency: 1,
            batch_size: 100,
            shared_jobs: DEFAULT_SHARED_JOBS,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            grace: Duration::from_secs(30),
            stop_when_empty: false,
            broadcast_retention: DEFAULT_BROADCAST_RETENTION,
        }
    }

    /// How long the broadcast log keeps messages for clients that resume (default 24 h); a
    /// running worker (not one that stops when empty) deletes older ones every minute.
    pub fn broadcast_retention(mut self, retention: Duration) -> Self {
        self.broadcast_retention = retention;
        self
    }

    /// How many batches run at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How many jobs one claim takes at most (fewer when jobs are slow: a claim holds about
    /// half a lease of work).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// How many jobs of listeners that declare
    /// [`SHARES_TRANSACTION`](crate::QueuedListener::SHARES_TRANSACTION) run in one transaction,
    /// each in a savepoint of its own (default 32); 1 runs every job in a transaction of its own.
    /// More jobs to a transaction commit less often, but hold the write transaction longer (on
    /// SQLite, other writers of the database wait for it).
    pub fn shared_transaction(mut self, jobs: usize) -> Self {
        self.shared_jobs = jobs.max(1);
        self
    }

    /// How long a claim holds its jobs without a renewal. A running batch renews it every third
    /// of a lease; a worker that dies releases its jobs when the lease ends.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(3));
        self
    }

    /// How long the jobs in hand may run on after a shutdown was asked for (default 30 s);
    /// a job still running then is cut short and released without counting a try.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The longest an idle worker sleeps before looking again: the safety net, since a commit
    /// that enqueues jobs wakes it at once, in this process or (through the database) another.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Stop once no job is ready (instead of waiting for more).
    pub fn stop_when_empty(mut self, stop: bool) -> Self {
        self.stop_when_empty = stop;
        self
    }

    /// The queues, in priority order.
    pub fn queues(&self) -> &[String] {
        &self.queues
    }
}
