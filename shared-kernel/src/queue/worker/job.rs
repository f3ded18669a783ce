//! Running one job in a transaction of its own: its listener under the try timeout, its writes
//! committed with its acknowledgement, and what a failed try becomes (a retry or a burial).

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures_util::FutureExt as _;

use tracing::Instrument;

use super::{Outcome, Worker};
use crate::bus::listener::QueuedHandler;
use crate::bus::{CONFLICT_RETRIES, JobContext, JobFailure, JobIdentity, ListenerError, QueueOptions, UowError};
use crate::bus::{conflict_backoff, is_conflict};
use crate::db::{is_connection_lost, reconnect_backoff};
use crate::metrics::{self, ListenerMode};
use crate::queue::middleware::Gate;
use crate::queue::{ClaimedJob, QueueError, Shutdown};

/// How often a job whose transaction lost its connection runs again before it counts as a
/// failed try.
const RECONNECT_RERUNS: u32 = 8;

impl Worker {
    /// Starts a job alone (counts its try, if the lease still holds) and runs it.
    pub(super) async fn run_job(
        &self,
        job: &mut ClaimedJob,
        token: &str,
        shutdown: &Shutdown,
    ) -> Result<Outcome, QueueError> {
        let Some(attempts) = self.queue.start(&job.id, token, self.options.lease).await? else {
            tracing::debug!(job_id = %job.id, "job skipped: its lease was lost before it started");
            return Ok(Outcome::LeaseLost);
        };
        job.attempts = attempts;
        self.run_started(job, token, shutdown).await
    }

    /// Runs a started job (its try counted) in a transaction of its own.
    pub(super) async fn run_started(
        &self,
        job: &ClaimedJob,
        token: &str,
        shutdown: &Shutdown,
    ) -> Result<Outcome, QueueError> {
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
                // Every try so far started and never finished: the worker running it died.
                let error = format!(
                    "gave up after {} tries: the worker running it stopped before finishing",
                    job.max_tries
                );
                if self.queue.bury(job, token, &error).await? {
                    hook("the failed hook", handler.failed(&job.event_name, &job.payload, &failure(error))).await;
                }
                return Ok(Outcome::Failed);
            }
            let held = match self.queue.gate(job, &options, token, self.options.lease).await? {
                Gate::Run(held) => held,
                Gate::Release(wait) => {
                    tracing::debug!(retry_in = ?wait, "job released: its listener's limit is reached");
                    self.queue.release_untried(job, token, wait).await?;
                    return Ok(Outcome::Deferred);
                }
            };

            let limit = options.try_timeout();
            let try_started = Instant::now();
            let mut conflicts = 0;
            let mut lost = 0;
            let result = loop {
                let mut ctx = JobContext::for_job(
                    &self.bus,
                    JobIdentity {
                        id: &job.id,
                        event_id: &job.event_id,
                        listener: &job.listener,
                        attempts: job.attempts,
                        max_tries: job.max_tries,
                    },
                    token,
                );
                let run = async {
                    let handled =
                        match tokio::time::timeout(limit, handler.handle(&job.event_name, &job.payload, &mut ctx)).await {
                            Ok(result) => result,
                            Err(_) => Err(ListenerError::msg(format!("timed out after {limit:?}"))),
                        };
                    match handled {
                        Ok(()) if !ctx.uow().has_work() => Ok(None),
                        Ok(()) => Self::commit_with_ack(ctx).await.map(Some),
                        Err(e) => {
                            // Roll the listener's writes back and free its connection first.
                            drop(ctx);
                            Err(e)
                        }
                    }
                };
                let grace_over = async {
                    let mut shutdown = shutdown.clone();
                    shutdown.triggered().await;
                    tokio::time::sleep(self.options.grace).await;
                };
                // The listener's future (and with it its transaction) is dropped when the
                // grace period wins, before the job is released.
                let finished = tokio::select! {
                    result = unwinding(run) => Some(result),
                    () = grace_over => None,
                };
                let Some(result) = finished else {
                    tracing::warn!(grace = ?self.options.grace, "shutdown grace period over; job cut short and released");
                    self.queue.release(token, std::slice::from_ref(&job.id), true).await?;
                    self.queue.let_go(held, token).await?;
                    return Ok(Outcome::CutShort);
                };
                match result {
                    Err(e) if conflicts < CONFLICT_RETRIES && is_conflict(&e) => {
                        conflicts += 1;
                        tracing::debug!(conflicts, "transaction conflict; running the job again");
                        tokio::time::sleep(conflict_backoff(conflicts)).await;
                    }
                    // Nothing committed, or the commit did and only its answer was lost: then
                    // the job is gone and the rerun finds its lease lost, writing nothing.
                    Err(e) if lost < RECONNECT_RERUNS && is_connection_lost(&e) => {
                        lost += 1;
                        let delay = reconnect_backoff(lost);
                        tracing::warn!(error = %e, retry_in = ?delay, "the job's database connection was lost; running it again");
                        tokio::time::sleep(delay).await;
                    }
                    other => break other,
                }
            };
            if let Err(e) = self.queue.let_go(held, token).await {
                tracing::warn!(error = %e, "giving a limit back failed; it frees itself when its lease or timeout ends");
            }
            let failed = result.as_ref().is_err_and(|e| !lease_lost(e));
            metrics::listener_ran(&job.listener, ListenerMode::Queued, try_started.elapsed(), failed);
            match result {
                Ok(None) => Ok(Outcome::AckLater(job.id.clone())),
                Ok(Some(())) => Ok(Outcome::Done),
                Err(error) if lease_lost(&error) => {
                    tracing::warn!("lease lost before acknowledgement; the job's writes were rolled back");
                    Ok(Outcome::LeaseLost)
                }
                Err(error) => self.settle_failure(job, token, &handler, &options, error).await,
            }
        }
        .instrument(job_span(job))
        .await
    }

    /// A failed try: retried after its backoff, or buried (and the listener's failed hook run)
    /// when it was permanent, the last try, or one exception too many.
    pub(super) async fn settle_failure(
        &self,
        job: &ClaimedJob,
        token: &str,
        handler: &QueuedHandler,
        options: &QueueOptions,
        error: ListenerError,
    ) -> Result<Outcome, QueueError> {
        let text = error.to_string();
        let exceptions = job.exceptions + 1;
        if error.is_permanent() || job.attempts >= job.max_tries || exceptions >= i64::from(options.exception_limit()) {
            tracing::error!(error = %text, "job failed for good");
            if self.queue.bury(job, token, &text).await? {
                let failure = JobFailure {
                    error: text,
                    attempts: u32::try_from(job.attempts).unwrap_or(u32::MAX),
                };
                hook(
                    "the failed hook",
                    handler.failed(&job.event_name, &job.payload, &failure),
                )
                .await;
            }
            Ok(Outcome::Failed)
        } else {
            let attempt = u32::try_from(job.attempts).unwrap_or(u32::MAX);
            // A wait the listener asked for (e.g. an HTTP `Retry-After`) replaces the schedule's.
            let delay = error.requested_wait().unwrap_or_else(|| options.delay_after(attempt));
            tracing::warn!(error = %text, retry_in = ?delay, "job failed; will retry");
            self.queue.retry_later(job, token, delay, &text).await?;
            Ok(Outcome::Retried)
        }
    }

    /// Commits the listener's unit of work, whose first statement acknowledged the job (opening
    /// it now if the listener only recorded events).
    async fn commit_with_ack(mut ctx: JobContext) -> Result<(), ListenerError> {
        let uow = ctx.uow();
        uow.conn().await?;
        ctx.into_uow().commit().await?;
        Ok(())
    }
}

/// The span a job runs in.
pub(super) fn job_span(job: &ClaimedJob) -> tracing::Span {
    tracing::info_span!(
        "job",
        job_id = %job.id,
        queue = %job.queue,
        event = %job.event_name,
        event_id = %job.event_id,
        listener = %job.listener,
        attempt = job.attempts
    )
}

/// Whether `error` says the job's lease was lost (another worker owns it now).
pub(super) fn lease_lost(error: &ListenerError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if matches!(e.downcast_ref::<UowError>(), Some(UowError::LeaseLost)) {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Runs a job's work (its listener and its commit), turning a panic into the error of a failed
/// try: a listener's bug fails its own job — retried, then buried with its failed hook run —
/// instead of ending the worker slot that ran it. What the work held (its transaction) drops
/// with it and rolls back.
pub(super) async fn unwinding<T>(work: impl Future<Output = Result<T, ListenerError>>) -> Result<T, ListenerError> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let message = panic_message(&*panic);
            tracing::error!(panic = message, "the listener panicked; counted as a failed try");
            Err(ListenerError::msg(format!("the listener panicked: {message}")))
        }
    }
}

/// Runs a listener's hook (preparing a batch, the failed hook), logging a panic instead of
/// passing it on: a hook's bug stops nothing else.
pub(super) async fn hook(what: &str, work: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
        tracing::error!(panic = panic_message(&*panic), "{what} panicked");
    }
}

/// The message a panic was raised with.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)")
}
