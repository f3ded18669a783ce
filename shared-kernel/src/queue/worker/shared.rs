//! Running a group of claimed jobs in one transaction, each in a savepoint of its own (see
//! [`crate::bus::shared_tx`]): one statement starts them all (counts their tries), one
//! transaction carries their writes and acknowledgements, one commit makes them durable.
//!
//! A job that fails rolls back to its savepoint alone and is retried (or buried) after the
//! commit, as a job run alone would be. What the shared transaction cannot isolate — a conflict
//! with a concurrent transaction (PostgreSQL), a lost connection, a savepoint that cannot be
//! rolled back, a failed commit — rolls the whole transaction back, and the group's jobs then run
//! again one by one, each in its own transaction, without counting another try. A shutdown
//! whose grace period ends during the group gives every job of it back.
//!
//! A listener without overlapping takes its lock in the job's savepoint and deletes it before
//! the savepoint is released (`Queue::lock_in`): a key another worker holds releases the job for
//! the listener's wait, untried, after the commit.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;

use tracing::Instrument;

use super::job::{job_span, lease_lost, unwinding};
use super::{Counters, Flow, Outcome, Pace, Worker, bump, tally};
use crate::bus::shared_tx::SharedTransaction;
use crate::bus::{JobIdentity, ListenerError, is_conflict};
use crate::db::is_connection_lost;
use crate::metrics::{self, JobOutcome, ListenerMode};
use crate::queue::{ClaimedJob, QueueError, Shutdown};

/// How a group's shared transaction ended.
enum Shared {
    /// Committed: what did not commit with it.
    Committed(Settled),
    /// Rolled back as a whole: run the jobs again one by one.
    Again(String),
    /// A shutdown's grace period ended while a job ran: rolled back, give the jobs back.
    CutShort,
}

/// The jobs (by index) of a committed shared transaction that did not commit with it.
#[derive(Default)]
struct Settled {
    /// Failed alone, each rolled back to its savepoint: retried or buried.
    failed: Vec<(usize, ListenerError)>,
    /// Found their lease lost (another worker has them).
    lost: Vec<usize>,
    /// Found their overlap key held by another worker: released for this long, untried.
    deferred: Vec<(usize, Duration)>,
}

/// How one job of a shared transaction ran.
enum Ran {
    Done,
    /// Its overlap key is held elsewhere: released for this long.
    Deferred(Duration),
}

impl Worker {
    /// Runs `group` (claimed under `token`, not started; listeners that share transactions) in
    /// one shared transaction. See the module docs.
    pub(super) async fn run_shared(
        &self,
        group: Vec<ClaimedJob>,
        token: &str,
        shutdown: &Shutdown,
        counters: &Counters,
        pace: &mut Pace,
    ) -> Result<Flow, QueueError> {
        let ids: Vec<String> = group.iter().map(|j| j.id.clone()).collect();
        let started = self.queue.start_many(&ids, token, self.options.lease).await?;
        let mut runnable: Vec<ClaimedJob> = Vec::with_capacity(group.len());
        for mut job in group {
            let Some((_, attempts)) = started.iter().find(|(id, _)| *id == job.id) else {
                tracing::debug!(job_id = %job.id, "job skipped: its lease was lost before it started");
                continue;
            };
            job.attempts = *attempts;
            if job.attempts > job.max_tries {
                // Its worker died on every try so far: buried on its own.
                let outcome = self.run_started(&job, token, shutdown).await?;
                self.finished(&job, &outcome, counters);
                continue;
            }
            runnable.push(job);
        }
        if runnable.is_empty() {
            return Ok(Flow::Go);
        }
        let started = Instant::now();
        let shared = self.try_shared(&runnable, token, shutdown).await;
        let per_job = started.elapsed() / u32::try_from(runnable.len()).unwrap_or(u32::MAX);
        for _ in &runnable {
            pace.record(per_job);
        }
        match shared {
            Shared::Committed(settled) => {
                let Settled { failed, lost, deferred } = settled;
                let kept = runnable.len() - failed.len() - lost.len() - deferred.len();
                for (i, job) in runnable.iter().enumerate() {
                    let settled = failed.iter().any(|(f, _)| *f == i)
                        || lost.contains(&i)
                        || deferred.iter().any(|(d, _)| *d == i);
                    if !settled {
                        metrics::job_finished(&job.queue, JobOutcome::Succeeded);
                    }
                }
                bump(&counters.processed, kept);
                for (i, wait) in deferred {
                    tracing::debug!(job_id = %runnable[i].id, retry_in = ?wait, "job released: its overlap key is held");
                    self.queue.release_untried(&runnable[i], token, wait).await?;
                }
                for (i, error) in failed {
                    let job = &runnable[i];
                    let Some((handler, options)) = self.bus.registry().handler(&job.event_name, &job.listener) else {
                        continue;
                    };
                    let outcome = async { self.settle_failure(job, token, &handler, &options, error).await }
                        .instrument(job_span(job))
                        .await?;
                    self.finished(job, &outcome, counters);
                }
                Ok(Flow::Go)
            }
            Shared::Again(why) => {
                tracing::debug!(reason = %why, jobs = runnable.len(), "a shared transaction rolled back; its jobs run one by one");
                // Jobs that wrote nothing are acknowledged together at the end.
                let mut quiet: Vec<String> = Vec::new();
                let mut flow = Flow::Go;
                for (i, job) in runnable.iter().enumerate() {
                    let outcome = match self.run_started(job, token, shutdown).await {
                        Ok(outcome) => outcome,
                        Err(e) => {
                            self.queue.ack(token, &quiet).await?;
                            return Err(e);
                        }
                    };
                    if let Outcome::AckLater(id) = &outcome {
                        quiet.push(id.clone());
                    }
                    self.finished(job, &outcome, counters);
                    if matches!(outcome, Outcome::CutShort) {
                        let rest: Vec<String> = runnable[i + 1..].iter().map(|j| j.id.clone()).collect();
                        bump(&counters.released, rest.len());
                        self.queue.release(token, &rest, true).await?;
                        flow = Flow::Stop;
                        break;
                    }
                }
                self.queue.ack(token, &quiet).await?;
                Ok(flow)
            }
            Shared::CutShort => {
                tracing::warn!(grace = ?self.options.grace, jobs = runnable.len(), "shutdown grace period over; a shared transaction cut short and its jobs released");
                bump(&counters.released, runnable.len());
                let ids: Vec<String> = runnable.iter().map(|j| j.id.clone()).collect();
                self.queue.release(token, &ids, true).await?;
                Ok(Flow::Stop)
            }
        }
    }

    /// Counts a job run alone (and its metric).
    fn finished(&self, job: &ClaimedJob, outcome: &Outcome, counters: &Counters) {
        if let Some(finished) = outcome.metric() {
            metrics::job_finished(&job.queue, finished);
        }
        tally(counters, outcome);
    }

    async fn try_shared(&self, jobs: &[ClaimedJob], token: &str, shutdown: &Shutdown) -> Shared {
        let mut shared = match SharedTransaction::begin(&self.bus, token).await {
            Ok(shared) => shared,
            Err(e) => return Shared::Again(e.to_string()),
        };
        let mut settled = Settled::default();
        for (i, job) in jobs.iter().enumerate() {
            let Some((handler, options)) = self.bus.registry().handler(&job.event_name, &job.listener) else {
                return Shared::Again(format!("no listener `{}` for `{}`", job.listener, job.event_name));
            };
            let Some(mut ctx) = shared.context(JobIdentity {
                id: &job.id,
                event_id: &job.event_id,
                listener: &job.listener,
                attempts: job.attempts,
                max_tries: job.max_tries,
            }) else {
                return Shared::Again("the shared transaction broke".to_owned());
            };
            let limit = options.try_timeout();
            let overlap = options.overlap_wait().zip(job.overlap_key.as_deref());
            let try_started = Instant::now();
            let grace_over = async {
                let mut shutdown = shutdown.clone();
                shutdown.triggered().await;
                tokio::time::sleep(self.options.grace).await;
            };
            let handled = {
                let ctx = &mut ctx;
                let run = async move {
                    if let Some((wait, key)) = overlap {
                        let conn = ctx.uow().conn().await?;
                        if !self
                            .queue
                            .lock_in(conn, &job.listener, key, token, self.options.lease)
                            .await?
                        {
                            return Ok(Ran::Deferred(wait));
                        }
                    }
                    handler.handle(&job.event_name, &job.payload, ctx).await?;
                    if let Some((_, key)) = overlap {
                        let conn = ctx.uow().conn().await?;
                        self.queue.unlock_in(conn, &job.listener, key, token).await?;
                    }
                    Ok::<_, ListenerError>(Ran::Done)
                };
                tokio::select! {
                    handled = tokio::time::timeout(limit, unwinding(run)) => Some(handled.unwrap_or_else(|_| Err(ListenerError::msg(format!("timed out after {limit:?}"))))),
                    () = grace_over => None,
                }
            };
            let Some(handled) = handled else {
                shared.discard(ctx).await;
                return Shared::CutShort;
            };
            let deferred = matches!(handled, Ok(Ran::Deferred(_)));
            let result = match handled {
                // The sync listeners of what the job recorded run as it is kept: a panic among
                // them leaves the savepoint half-done, so the whole group runs again one by one.
                Ok(Ran::Done) => match AssertUnwindSafe(shared.keep(ctx)).catch_unwind().await {
                    Ok(kept) => kept.map_err(ListenerError::from),
                    Err(_) => return Shared::Again("a listener panicked while its job was kept".to_owned()),
                },
                Ok(Ran::Deferred(wait)) => {
                    shared.discard(ctx).await;
                    settled.deferred.push((i, wait));
                    Ok(())
                }
                Err(e) => {
                    shared.discard(ctx).await;
                    Err(e)
                }
            };
            if !deferred {
                let job_failed = result.as_ref().is_err_and(|e| !lease_lost(e));
                metrics::listener_ran(&job.listener, ListenerMode::Queued, try_started.elapsed(), job_failed);
            }
            match result {
                Ok(()) => {}
                Err(e) if lease_lost(&e) => {
                    settled.lost.push(i);
                    tracing::warn!(job_id = %job.id, "lease lost before acknowledgement; the job's writes were rolled back");
                }
                Err(e) if is_conflict(&e) || is_connection_lost(&e) => return Shared::Again(e.to_string()),
                Err(e) => settled.failed.push((i, e)),
            }
            if !shared.usable() {
                return Shared::Again("the shared transaction broke".to_owned());
            }
        }
        match shared.commit().await {
            Ok(_) => Shared::Committed(settled),
            Err(e) => Shared::Again(e.to_string()),
        }
    }
}
