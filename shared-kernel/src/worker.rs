//! The worker: claims jobs from queues in priority order, runs their listeners with a timeout,
//! acknowledges, retries with backoff, buries what keeps failing, and shuts down gracefully.
//!
//! Jobs are claimed in batches under a lease (one statement per batch). A listener that wrote
//! nothing to the database is acknowledged with the rest of its batch in one statement; a
//! listener that used its unit of work is acknowledged inside that transaction, so its writes and
//! its acknowledgement commit together or not at all. An idle worker sleeps until a commit in this
//! process enqueues a job, or at most one poll interval.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use crate::listener::{JobFailure, ListenerError};
use crate::queue::{ClaimedJob, JobContext, Queue, QueueError};
use crate::uow::EventBus;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    queues: Vec<String>,
    concurrency: usize,
    batch_size: usize,
    lease: Duration,
    poll_interval: Duration,
    stop_when_empty: bool,
}

impl WorkerOptions {
    /// Work `queues`, highest priority first: a job of a later queue runs only when no earlier
    /// queue has a ready job. Defaults: concurrency 1, batches of 100, 5 min lease, 1 s poll.
    pub fn new(queues: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            queues: queues.into_iter().map(Into::into).collect(),
            concurrency: 1,
            batch_size: 100,
            lease: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
            stop_when_empty: false,
        }
    }

    /// How many batches run at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How many jobs one claim takes at most.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// How long a claim holds its jobs; a worker that dies mid-batch releases them when it ends.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The longest an idle worker sleeps before looking again.
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

/// Asks a running worker to stop: it claims nothing more, finishes the job in hand and gives
/// the rest of its batch back.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger(Arc<watch::Sender<bool>>);

impl ShutdownTrigger {
    /// Starts the graceful shutdown.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

/// The worker's side of a [`ShutdownTrigger`].
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    async fn triggered(&mut self) {
        // An error means the trigger was dropped: nobody can stop us any more, so wait forever.
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A linked trigger and signal.
pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(Arc::new(tx)), Shutdown(rx))
}

/// What a worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerReport {
    /// Jobs that succeeded and were acknowledged.
    pub processed: u64,
    /// Failed tries scheduled for a retry.
    pub retried: u64,
    /// Jobs moved to `failed_jobs`.
    pub failed: u64,
}

#[derive(Default)]
struct Counters {
    processed: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
}

impl Counters {
    fn report(&self) -> WorkerReport {
        WorkerReport {
            processed: self.processed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

/// Runs queued listeners. See the module docs.
#[derive(Debug, Clone)]
pub struct Worker {
    bus: EventBus,
    queue: Queue,
    options: WorkerOptions,
    claim_sql: Arc<str>,
}

enum Outcome {
    AckLater(String),
    Done,
    Retried,
    Failed,
    LeaseLost,
}

impl Worker {
    /// A worker over `bus`'s database and registry.
    pub fn new(bus: EventBus, options: WorkerOptions) -> Self {
        let queue = Queue::new(bus.clone());
        let claim_sql = queue.claim_sql(&options.queues).into();
        Self {
            bus,
            queue,
            options,
            claim_sql,
        }
    }

    /// Runs until `shutdown` is triggered (or, with `stop_when_empty`, until no job is ready).
    pub async fn run(&self, shutdown: Shutdown) -> Result<WorkerReport, QueueError> {
        let counters = Arc::new(Counters::default());
        let mut tasks = tokio::task::JoinSet::new();
        for slot in 0..self.options.concurrency {
            let worker = self.clone();
            let shutdown = shutdown.clone();
            let counters = counters.clone();
            let span = tracing::info_span!("worker", slot);
            tasks.spawn(async move { worker.run_loop(shutdown, &counters).await }.instrument(span));
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(panic) => tracing::error!(error = %panic, "worker task panicked"),
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(counters.report()),
        }
    }

    /// Runs until no job of its queues is ready, then returns.
    pub async fn run_until_empty(&self) -> Result<WorkerReport, QueueError> {
        let mut worker = self.clone();
        worker.options.stop_when_empty = true;
        let (_trigger, shutdown) = shutdown_channel();
        worker.run(shutdown).await
    }

    async fn run_loop(&self, mut shutdown: Shutdown, counters: &Counters) -> Result<(), QueueError> {
        let wake = self.bus.wake().clone();
        loop {
            if shutdown.is_triggered() {
                return Ok(());
            }
            // Registered before the claim, so a commit between an empty claim and the wait
            // still wakes us.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let token = Uuid::now_v7().to_string();
            let claimed = self
                .queue
                .claim(
                    &self.claim_sql,
                    &self.options.queues,
                    self.options.batch_size,
                    self.options.lease,
                    &token,
                )
                .await;
            let jobs = match claimed {
                Ok(jobs) => jobs,
                Err(e) if !self.options.stop_when_empty => {
                    tracing::error!(error = %e, source = ?std::error::Error::source(&e), "claiming jobs failed; retrying after the poll interval");
                    tokio::time::sleep(self.options.poll_interval).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if jobs.is_empty() {
                if self.options.stop_when_empty {
                    return Ok(());
                }
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(self.options.poll_interval) => {}
                    _ = shutdown.triggered() => return Ok(()),
                }
                continue;
            }
            if let Err(e) = self.run_batch(jobs, &token, &shutdown, counters).await {
                if self.options.stop_when_empty {
                    return Err(e);
                }
                tracing::error!(error = %e, "job bookkeeping failed; unacknowledged jobs run again when their lease ends");
                tokio::time::sleep(self.options.poll_interval).await;
            }
        }
    }

    async fn run_batch(
        &self,
        jobs: Vec<ClaimedJob>,
        token: &str,
        shutdown: &Shutdown,
        counters: &Counters,
    ) -> Result<(), QueueError> {
        let mut acks = Vec::new();
        let mut jobs = jobs.into_iter();
        while let Some(job) = jobs.next() {
            if shutdown.is_triggered() {
                let rest: Vec<String> = std::iter::once(job).chain(jobs).map(|j| j.id).collect();
                self.queue.release(token, &rest).await?;
                break;
            }
            match self.run_job(&job, token).await {
                Ok(Outcome::AckLater(id)) => acks.push(id),
                Ok(Outcome::Done) => {
                    counters.processed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Outcome::Retried) => {
                    counters.retried.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Outcome::Failed) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Outcome::LeaseLost) => {}
                Err(e) => {
                    // Acknowledge what already succeeded before giving up on the batch.
                    self.queue.ack(token, &acks).await?;
                    counters.processed.fetch_add(acks.len() as u64, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        self.queue.ack(token, &acks).await?;
        counters.processed.fetch_add(acks.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn run_job(&self, job: &ClaimedJob, token: &str) -> Result<Outcome, QueueError> {
        let span = tracing::info_span!(
            "job",
            job_id = %job.id,
            queue = %job.queue,
            event = %job.event_name,
            event_id = %job.event_id,
            listener = %job.listener,
            attempt = job.attempts
        );
        async move {
            let Some((handler, options)) = self.bus.registry().handler(&job.event_name, &job.listener) else {
                let error = format!("no listener `{}` is registered for `{}`", job.listener, job.event_name);
                tracing::error!(%error, "job cannot run");
                self.queue.bury(job, token, &error).await?;
                return Ok(Outcome::Failed);
            };
            let failure = |error: String| JobFailure {
                error,
                attempts: u32::try_from(job.attempts).unwrap_or(u32::MAX),
            };
            if job.attempts > job.max_tries {
                // Every try so far ended with the worker gone (its lease expired): give up.
                let error = format!(
                    "gave up after {} tries: the worker running it stopped before finishing",
                    job.max_tries
                );
                if self.queue.bury(job, token, &error).await? {
                    handler.failed(&job.event_name, &job.payload, &failure(error)).await;
                }
                return Ok(Outcome::Failed);
            }

            let mut ctx = JobContext::new(&self.bus, job);
            let limit = options.try_timeout();
            let result =
                match tokio::time::timeout(limit, handler.handle(&job.event_name, &job.payload, &mut ctx)).await {
                    Ok(result) => result,
                    Err(_) => Err(ListenerError::msg(format!("timed out after {limit:?}"))),
                };
            let result = match result {
                Ok(()) if !ctx.uow().has_work() => return Ok(Outcome::AckLater(job.id.clone())),
                Ok(()) => self.commit_with_ack(ctx, job, token).await,
                Err(e) => {
                    // Roll the listener's writes back and free its connection before bookkeeping.
                    drop(ctx);
                    Err(e)
                }
            };
            match result {
                Ok(true) => Ok(Outcome::Done),
                Ok(false) => {
                    tracing::warn!("lease lost before acknowledgement; the job's writes were rolled back");
                    Ok(Outcome::LeaseLost)
                }
                Err(error) => {
                    let text = error.to_string();
                    if error.is_permanent() || job.attempts >= job.max_tries {
                        tracing::error!(error = %text, "job failed for good");
                        if self.queue.bury(job, token, &text).await? {
                            handler.failed(&job.event_name, &job.payload, &failure(text)).await;
                        }
                        Ok(Outcome::Failed)
                    } else {
                        let attempt = u32::try_from(job.attempts).unwrap_or(u32::MAX);
                        let delay = options.delay_after(attempt);
                        tracing::warn!(error = %text, retry_in = ?delay, "job failed; will retry");
                        self.queue.retry_later(job, token, delay, &text).await?;
                        Ok(Outcome::Retried)
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Acknowledges the job inside the listener's own transaction and commits both. `Ok(false)`:
    /// the lease was lost, everything rolled back.
    async fn commit_with_ack(&self, ctx: JobContext, job: &ClaimedJob, token: &str) -> Result<bool, ListenerError> {
        let mut uow = ctx.into_uow();
        let conn = uow.conn().await?;
        let acked = sqlx::query("DELETE FROM jobs WHERE id = $1 AND reserved_by = $2")
            .bind(job.id.clone())
            .bind(token.to_owned())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if acked != 1 {
            uow.rollback().await?;
            return Ok(false);
        }
        uow.commit().await?;
        Ok(true)
    }
}
