//! The worker: claims jobs from queues in priority order, runs their listeners with a timeout,
//! acknowledges, retries with backoff, buries what keeps failing, and shuts down gracefully.
//!
//! Jobs are claimed in batches under a lease (one statement per batch; a claim counts no try).
//! While a batch runs, a heartbeat renews the lease of every job it still holds, so a batch may
//! outlive its lease and a killed worker's jobs are free again one lease later (30 s by default).
//! Before a job runs the worker *starts* it: one statement that counts the try and checks the
//! job is still held; a job another worker took meanwhile is skipped, never run twice at once.
//! Untried jobs are started a few together (about 50 ms of work, at most 16; the jobs of a
//! shared transaction all at once): a worker that dies has charged each of them a try, and a job
//! tried before always starts, and runs, alone. The
//! claim size follows the measured job duration, so one claim holds about half a lease of work.
//!
//! A listener that used its unit of work is acknowledged by that transaction's first statement,
//! so its writes and its acknowledgement commit together or not at all. A listener that wrote
//! nothing is acknowledged with others of its batch in one statement, at the latest a quarter of
//! a lease after it finished (its lease is renewed until then). A try that exceeds its timeout is
//! a failed try. A conflict with a concurrent transaction (PostgreSQL serialization failure) runs
//! the job again at once without counting a try.
//!
//! On shutdown the worker claims nothing more, gives the jobs in hand up to the grace period to
//! finish, and releases the unstarted rest (and any job the grace period cut short) without
//! counting a try. An idle worker sleeps until a commit enqueues a job — in this process through
//! the bus, in another one through the database (`LISTEN`/`NOTIFY` on PostgreSQL, `PRAGMA
//! data_version` on SQLite; see `db/commit_watch.rs`) — or at most one poll interval. Of the
//! idle slots a commit wakes, one claims and the others stand aside (`worker/turns.rs`); a slot
//! whose claim took every ready job waits rather than claiming again at once.
//!
//! A lost connection (a database restarting, a backend terminated) stops nothing: the worker logs
//! it and tries again with backoff — the claim, each bookkeeping statement, and a job whose
//! transaction failed with it (run again without counting a try, like a conflict). A job's
//! writes commit with its acknowledgement, so a rerun after a commit whose answer was lost finds
//! the job gone and does nothing.

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;
use uuid::Uuid;

use super::maintenance::{self, CatchUpTask, PruneTask};
use super::{ClaimedJob, Queue, QueueError, Shutdown, WorkerOptions, shutdown_channel};
use crate::bus::listener::QueuedHandler;
use crate::bus::{EventBus, QueueOptions};
use crate::db::commit_watch::{self, Topic};
use crate::db::{JOBS_CHANNEL, is_connection_lost, reconnect_backoff};
use crate::metrics::{self, JobOutcome};
use pace::Pace;
use report::{Counters, IdleSlot, bump, tally};
pub use report::{WorkerProgress, WorkerReport};

mod job;
mod pace;
mod report;
mod shared;
mod turns;

/// Jobs of a batch started ahead of running them, by id: the tries counted, or `None` when
/// their lease was lost before they started.
type StartedAhead = std::collections::HashMap<String, Option<i64>>;

/// Runs queued listeners. See the module docs.
#[derive(Debug, Clone)]
pub struct Worker {
    bus: EventBus,
    queue: Queue,
    options: WorkerOptions,
    claim_sql: Arc<str>,
    counters: Arc<Counters>,
    /// Which idle slot claims after a commit (shared by the slots).
    turns: Arc<turns::Turns>,
}

enum Outcome {
    AckLater(String),
    Done,
    Retried,
    Failed,
    LeaseLost,
    /// A rate limit or an overlap lock stopped it: released for later, counting no try.
    Deferred,
    /// The grace period ended while it ran: given back.
    CutShort,
}

impl Outcome {
    /// How the job counters see it; a job given back or taken by another worker is neither.
    fn metric(&self) -> Option<JobOutcome> {
        match self {
            Outcome::AckLater(_) | Outcome::Done => Some(JobOutcome::Succeeded),
            Outcome::Retried => Some(JobOutcome::Retried),
            Outcome::Failed => Some(JobOutcome::Buried),
            Outcome::LeaseLost | Outcome::Deferred | Outcome::CutShort => None,
        }
    }
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
            counters: Arc::new(Counters::default()),
            turns: Arc::default(),
        }
    }

    /// A live view of this worker's counts (shared by its clones), e.g. for a progress line.
    pub fn progress(&self) -> WorkerProgress {
        WorkerProgress(self.counters.clone())
    }

    /// Runs until `shutdown` is triggered (or, with `stop_when_empty`, until no job is ready).
    ///
    /// Runs at most as many slots as the database's pool serves without a slot waiting on
    /// another for a connection ([`Database::max_worker_slots`](crate::Database::max_worker_slots));
    /// a higher concurrency is lowered to that, with a warning.
    pub async fn run(&self, shutdown: Shutdown) -> Result<WorkerReport, QueueError> {
        let counters = self.counters.clone();
        let db = self.bus.db();
        let slots = self.options.concurrency.min(db.max_worker_slots());
        if slots < self.options.concurrency {
            tracing::warn!(
                concurrency = self.options.concurrency,
                slots,
                max_connections = db.max_connections(),
                "the database pool cannot serve this many worker slots at once; running fewer \
                 (raise DATABASE_MAX_CONNECTIONS for more)"
            );
        }
        // Until the worker stops, commits of other processes wake its idle slots.
        let _watch = if self.options.stop_when_empty {
            None
        } else {
            {
                let queues = self.options.queues.clone();
                let topic = Topic {
                    channel: JOBS_CHANNEL,
                    wanted: Arc::new(move |queue: &str| queues.iter().any(|q| q == queue)),
                    what: "new jobs",
                };
                Some(commit_watch::start(db, topic, self.bus.wake().clone(), counters.idle.clone()).await)
            }
        };
        let _pruning = (!self.options.stop_when_empty)
            .then(|| PruneTask::start(&self.bus, self.options.broadcast_retention, self.options.queues()));
        // Catch-up listeners get the history: beside the slots, or first when draining.
        let _catching_up = if self.options.stop_when_empty {
            maintenance::catch_up(&self.bus).await;
            None
        } else {
            Some(CatchUpTask::start(&self.bus))
        };
        let mut tasks = tokio::task::JoinSet::new();
        for slot in 0..slots {
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
        let mut pace = Pace::default();
        // Consecutive failures for a lost connection: how long to wait before the next claim.
        let mut lost = 0u32;
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
            let size = pace.claim_size(self.options.lease, self.options.batch_size);
            self.turns.claiming(&wake);
            let claimed = self
                .queue
                .claim(&self.claim_sql, &self.options.queues, size, self.options.lease, &token)
                .await;
            let jobs = match claimed {
                Ok(jobs) => {
                    if lost > 0 {
                        tracing::info!("the database answers again; working on");
                        lost = 0;
                    }
                    jobs
                }
                Err(e) if is_connection_lost(&e) => {
                    lost += 1;
                    let delay = reconnect_backoff(lost);
                    tracing::warn!(error = %e, source = ?std::error::Error::source(&e), retry_in = ?delay, "claiming jobs failed: the database connection was lost; trying again");
                    tokio::time::sleep(delay).await;
                    // The claim may have committed with only its answer lost: give back whatever
                    // it took, so its jobs need not wait for the lease to end.
                    if let Err(e) = self.queue.release_token(&token).await {
                        tracing::debug!(error = %e, "giving back a lost claim failed; its jobs run when its lease ends");
                    }
                    continue;
                }
                Err(e) if !self.options.stop_when_empty => {
                    tracing::error!(error = %e, source = ?std::error::Error::source(&e), "claiming jobs failed; retrying after the poll interval");
                    tokio::time::sleep(self.options.poll_interval).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            for job in &jobs {
                metrics::job_claimed(&job.queue);
            }
            // Fewer jobs than asked for: the claim took every ready job.
            let took_all = jobs.len() < size;
            if jobs.is_empty() {
                bump(&counters.empty_claims, 1);
                if self.options.stop_when_empty {
                    return Ok(());
                }
            } else {
                if !took_all {
                    self.turns.relay();
                }
                if let Err(e) = self.run_batch(jobs, &token, &shutdown, counters, &mut pace).await {
                    if is_connection_lost(&e) {
                        lost += 1;
                        let delay = reconnect_backoff(lost);
                        tracing::warn!(error = %e, retry_in = ?delay, "job bookkeeping failed: the database connection was lost; trying again");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    if self.options.stop_when_empty {
                        return Err(e);
                    }
                    tracing::error!(error = %e, "job bookkeeping failed; unacknowledged jobs run again when their lease ends");
                    tokio::time::sleep(self.options.poll_interval).await;
                    continue;
                }
                // Claim again at once only if more may be ready; a commit meanwhile has already
                // completed `notified`, so the wait below returns at once.
                if !took_all || self.options.stop_when_empty {
                    continue;
                }
            }
            let _idle = IdleSlot::enter(&counters.idle);
            // Relays are waited for only here: a slot's own relay must reach another slot.
            let relayed = self.turns.relayed();
            let poll = tokio::time::sleep(self.options.poll_interval);
            tokio::pin!(relayed, poll);
            loop {
                tokio::select! {
                    _ = &mut notified => {
                        // Registered again first, so a commit after the check still wakes it.
                        notified.set(wake.notified());
                        notified.as_mut().enable();
                        if self.turns.covered(&wake) {
                            continue;
                        }
                    }
                    _ = &mut relayed => {}
                    _ = &mut poll => {}
                    _ = shutdown.triggered() => return Ok(()),
                }
                break;
            }
        }
    }

    /// Renews the lease of what `token` holds every third of a lease, until aborted.
    fn heartbeat(&self, token: &str) -> tokio::task::JoinHandle<()> {
        let queue = self.queue.clone();
        let token = token.to_owned();
        let lease = self.options.lease;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                match queue.renew(&token, lease).await {
                    Ok(n) => tracing::trace!(renewed = n, "lease renewed"),
                    Err(e) => tracing::warn!(error = %e, "renewing the lease failed; trying again"),
                }
                if let Err(e) = queue.renew_locks(&token, lease).await {
                    tracing::warn!(error = %e, "renewing overlap locks failed; trying again");
                }
            }
        })
    }

    async fn run_batch(
        &self,
        jobs: Vec<ClaimedJob>,
        token: &str,
        shutdown: &Shutdown,
        counters: &Counters,
        pace: &mut Pace,
    ) -> Result<(), QueueError> {
        // Stops with the batch, also when the batch's future is dropped (a slot that is aborted).
        let _heartbeat = AbortOnDrop(self.heartbeat(token));
        self.prepare(&jobs, shutdown).await;
        let mut acks: Vec<String> = Vec::new();
        let mut oldest_ack: Option<Instant> = None;
        let ack_within = self.options.lease / 4;
        let mut segments = self.segments(jobs).into_iter();
        let mut ahead = StartedAhead::new();
        let mut result = Ok(());
        while let Some(segment) = segments.next() {
            let rest = || segment_ids(segments.clone());
            if shutdown.is_triggered() {
                let rest: Vec<String> = segment.ids().chain(rest()).collect();
                bump(&counters.released, rest.len());
                result = self.give_back(token, rest, &ahead).await;
                break;
            }
            if oldest_ack.is_some_and(|t| t.elapsed() >= ack_within) {
                if let Err(e) = self.queue.ack(token, &acks).await {
                    result = Err(e);
                    break;
                }
                bump(&counters.processed, acks.len());
                acks.clear();
                oldest_ack = None;
            }
            let mut job = match segment {
                Segment::Shared(group) => {
                    let ran = self.run_shared(group, token, shutdown, counters, pace).await;
                    let stop = match ran {
                        Ok(Flow::Go) => continue,
                        Ok(Flow::Stop) => Ok(()),
                        Err(e) => Err(e),
                    };
                    // Cut short, or its bookkeeping failed: give the unstarted rest back.
                    let rest: Vec<String> = rest().collect();
                    bump(&counters.released, rest.len());
                    let released = self.give_back(token, rest, &ahead).await;
                    result = stop.and(released);
                    break;
                }
                Segment::Single(job) => job,
            };
            let started = Instant::now();
            let outcome = self
                .run_single(&mut job, token, shutdown, segments.as_slice(), &mut ahead, pace)
                .await;
            pace.record(started.elapsed());
            if let Some(finished) = outcome.as_ref().ok().and_then(Outcome::metric) {
                metrics::job_finished(&job.queue, finished);
            }
            match outcome {
                Ok(Outcome::AckLater(id)) => {
                    acks.push(id);
                    oldest_ack.get_or_insert_with(Instant::now);
                }
                Ok(Outcome::CutShort) => {
                    bump(&counters.released, 1);
                    let rest: Vec<String> = rest().collect();
                    bump(&counters.released, rest.len());
                    result = self.give_back(token, rest, &ahead).await;
                    break;
                }
                Ok(other) => tally(counters, &other),
                Err(e) => {
                    // Give this job and the unstarted rest back, so they need not wait for the
                    // lease to end (a job that started keeps its counted try).
                    let released = match self.queue.release(token, std::slice::from_ref(&job.id), false).await {
                        Ok(()) => self.give_back(token, rest().collect(), &ahead).await,
                        Err(e) => Err(e),
                    };
                    if let Err(release) = released {
                        tracing::warn!(error = %release, "giving jobs back failed; they run again when their lease ends");
                    }
                    result = Err(e);
                    break;
                }
            }
        }
        // Acknowledge what already succeeded, whatever happened after.
        self.queue.ack(token, &acks).await?;
        bump(&counters.processed, acks.len());
        result
    }

    /// Splits a claim into what runs in transactions shared by several jobs (consecutive jobs
    /// of listeners that share, at most [`WorkerOptions::shared_transaction`] to one) and the
    /// jobs that run alone. Within one queue and priority the sharing jobs come first (the claim
    /// keeps queue and priority order; jobs of equal rank have no order to keep).
    ///
    /// A job tried before runs alone: it failed, or a worker died running it — maybe because of
    /// it, and a job that takes its worker down must not charge a try to every job of a group
    /// each time (nor a job that fails roll back a savepoint among others again).
    fn segments(&self, mut jobs: Vec<ClaimedJob>) -> Vec<Segment> {
        let registry = self.bus.registry();
        let most = self.options.shared_jobs;
        let shares = |job: &ClaimedJob| most > 1 && job.attempts == 0 && registry.shares_transaction(&job.listener);
        if most > 1 {
            let queues = &self.options.queues;
            let rank = |q: &str| queues.iter().position(|x| x == q).unwrap_or(usize::MAX);
            jobs.sort_by_key(|j| (rank(&j.queue), std::cmp::Reverse(j.priority), !shares(j)));
        }
        let mut segments: Vec<Segment> = Vec::new();
        for job in jobs {
            if !shares(&job) {
                segments.push(Segment::Single(job));
                continue;
            }
            match segments.last_mut() {
                Some(Segment::Shared(group)) if group.len() < most => group.push(job),
                _ => segments.push(Segment::Shared(vec![job])),
            }
        }
        segments
    }

    /// Lets each listener that prepares batches ([`QueuedListener::prepare`]) see its claimed
    /// jobs of one event type together, before they run one by one. The registry says which
    /// listeners (those without middleware limiting their runs, which preparing would go
    /// around); it is bounded by the listener's try timeout; none starts after a shutdown, and
    /// one under way is cut short after the grace period (its jobs then do their own work).
    ///
    /// [`QueuedListener::prepare`]: crate::QueuedListener::prepare
    async fn prepare(&self, jobs: &[ClaimedJob], shutdown: &Shutdown) {
        let registry = self.bus.registry();
        if !registry.any_prepares_batches() {
            return;
        }
        let mut groups: Vec<PrepareGroup<'_>> = Vec::new();
        for job in jobs {
            // A job whose worker died on its last try is buried, not run.
            if !registry.prepares_batches(&job.listener) || job.attempts >= job.max_tries {
                continue;
            }
            if let Some(group) = groups
                .iter_mut()
                .find(|(event, listener, ..)| *event == job.event_name && *listener == job.listener)
            {
                group.4.push(&job.payload);
                continue;
            }
            if let Some((handler, options)) = registry.handler(&job.event_name, &job.listener) {
                groups.push((&job.event_name, &job.listener, handler, options, vec![&job.payload]));
            }
        }
        for (event, listener, handler, options, payloads) in groups {
            if payloads.len() < 2 {
                continue;
            }
            if shutdown.is_triggered() {
                return;
            }
            let limit = options.try_timeout();
            // As a running job: a shutdown lets it finish within the grace period, so what it
            // did is kept for its jobs (which the batch then gives back, to run later).
            let grace_over = async {
                let mut shutdown = shutdown.clone();
                shutdown.triggered().await;
                tokio::time::sleep(self.options.grace).await;
            };
            tokio::select! {
                prepared = tokio::time::timeout(limit, job::hook("preparing a batch", handler.prepare(&payloads))) => {
                    if prepared.is_err() {
                        tracing::warn!(event, listener, ?limit, "preparing a batch timed out; its jobs do their own work");
                    }
                }
                () = grace_over => return,
            }
        }
    }

    /// Runs a job that runs alone. An untried job is started together with the untried jobs
    /// that run alone after it in the claim (about [`START_AHEAD`](pace::START_AHEAD) of work, see
    /// [`Pace::start_ahead`]): one statement counts their tries instead of one each. Should the
    /// worker die before it runs them, each has been charged a try (as the jobs of a shared
    /// transaction are), and being tried they then start alone. A job tried before starts alone.
    async fn run_single(
        &self,
        job: &mut ClaimedJob,
        token: &str,
        shutdown: &Shutdown,
        next: &[Segment],
        ahead: &mut StartedAhead,
        pace: &Pace,
    ) -> Result<Outcome, QueueError> {
        if !ahead.contains_key(&job.id) {
            let most = pace.start_ahead();
            if job.attempts > 0 || most == 1 {
                return self.run_job(job, token, shutdown).await;
            }
            let ids: Vec<String> = std::iter::once(job.id.clone())
                .chain(
                    next.iter()
                        .map_while(|segment| match segment {
                            Segment::Single(next) if next.attempts == 0 => Some(next.id.clone()),
                            _ => None,
                        })
                        .take(most - 1),
                )
                .collect();
            let started = self.queue.start_many(&ids, token, self.options.lease).await?;
            for id in ids {
                let attempts = started.iter().find(|(s, _)| *s == id).map(|(_, a)| *a);
                ahead.insert(id, attempts);
            }
        }
        let Some(attempts) = ahead.remove(&job.id).flatten() else {
            tracing::debug!(job_id = %job.id, "job skipped: its lease was lost before it started");
            return Ok(Outcome::LeaseLost);
        };
        job.attempts = attempts;
        self.run_started(job, token, shutdown).await
    }

    /// Gives back jobs of a batch that did not run: those started ahead uncount their try.
    async fn give_back(&self, token: &str, ids: Vec<String>, ahead: &StartedAhead) -> Result<(), QueueError> {
        let (started, untried): (Vec<String>, Vec<String>) =
            ids.into_iter().partition(|id| matches!(ahead.get(id), Some(Some(_))));
        self.queue.release(token, &untried, false).await?;
        self.queue.release(token, &started, true).await
    }
}

/// A listener's claimed jobs of one event type: (event, listener, its handler and options, their
/// payloads).
type PrepareGroup<'a> = (&'a str, &'a str, QueuedHandler, Arc<QueueOptions>, Vec<&'a str>);

/// Part of a claim: jobs that share a transaction, or one that runs alone.
#[derive(Clone)]
enum Segment {
    Shared(Vec<ClaimedJob>),
    Single(ClaimedJob),
}

impl Segment {
    fn ids(&self) -> impl Iterator<Item = String> + '_ {
        let jobs = match self {
            Segment::Shared(group) => group.as_slice(),
            Segment::Single(job) => std::slice::from_ref(job),
        };
        jobs.iter().map(|j| j.id.clone())
    }
}

fn segment_ids(segments: impl Iterator<Item = Segment>) -> impl Iterator<Item = String> {
    segments.flat_map(|s| s.ids().collect::<Vec<_>>())
}

/// Whether a batch goes on after a shared transaction.
enum Flow {
    Go,
    /// Cut short by the end of a shutdown's grace period: give the rest back.
    Stop,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
