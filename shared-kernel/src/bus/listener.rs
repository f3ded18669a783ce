//! The listener traits a context implements, and their type-erased forms the registry stores.
//!
//! * [`SyncListener`] runs inside the command's transaction, before commit, and may change state
//!   and record further events through the [`UnitOfWork`]. Its failure rolls the command back.
//! * [`QueuedListener`] runs after commit, from a durable job, on a named queue, with retries.
//!   Its database writes go through [`JobContext::uow`] and commit together with the job's
//!   acknowledgement.
//! * The wildcard forms receive every event (cross-cutting concerns such as the audit log).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use super::event::{AnyEnvelope, DomainEvent, Envelope, JsonEvent, SharedEnvelope};
use super::job::JobContext;
use super::uow::{UnitOfWork, UowError};

/// Why a listener failed. The text is kept in the job's `last_error` and in `failed_jobs`.
#[derive(Debug)]
pub struct ListenerError {
    message: String,
    permanent: bool,
    retry_after: Option<std::time::Duration>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl ListenerError {
    /// A failure described by a message; the job is retried per its schedule.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
            retry_after: None,
            source: None,
        }
    }

    /// A failure caused by another error; the job is retried per its schedule.
    pub fn new(source: impl StdError + Send + Sync + 'static) -> Self {
        Self {
            message: source.to_string(),
            permanent: false,
            retry_after: None,
            source: Some(Box::new(source)),
        }
    }

    /// A failure that no retry can fix (e.g. the payload names a deleted entity): the job goes
    /// straight to `failed_jobs`.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
            retry_after: None,
            source: None,
        }
    }

    /// Whether retrying is pointless.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// Asks for the retry (if another try is left) after `wait` instead of the backoff
    /// schedule's next wait: e.g. what an HTTP `Retry-After` answer says.
    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// The wait asked for by [`retry_after`](Self::retry_after), if any.
    pub fn requested_wait(&self) -> Option<std::time::Duration> {
        self.retry_after
    }
}

impl fmt::Display for ListenerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut cause = self.source.as_deref().and_then(StdError::source);
        while let Some(inner) = cause {
            write!(f, ": {inner}")?;
            cause = inner.source();
        }
        Ok(())
    }
}

impl StdError for ListenerError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<sqlx::Error> for ListenerError {
    fn from(e: sqlx::Error) -> Self {
        Self::new(e)
    }
}

impl From<UowError> for ListenerError {
    fn from(e: UowError) -> Self {
        Self::new(e)
    }
}

/// What a queued listener's `failed` hook is told once its job has given up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// The last error's text.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
}

/// A listener that runs inside the command's transaction. See the module docs.
#[async_trait]
pub trait SyncListener<E: DomainEvent>: Send + Sync + 'static {
    /// The listener's name, as listed and logged (e.g. `RecalculateCourseProgress`).
    const NAME: &'static str;

    /// Handles one event. An error rolls back the whole unit of work.
    async fn handle(&self, event: &Envelope<E>, uow: &mut UnitOfWork) -> Result<(), ListenerError>;
}

/// A listener that runs after commit from a durable job. See the module docs.
#[async_trait]
pub trait QueuedListener<E: DomainEvent>: Send + Sync + 'static {
    /// The listener's name; with the event id it is the job's idempotency key.
    const NAME: &'static str;

    /// Handles one event. An error schedules a retry (or fails the job after its last try).
    async fn handle(&self, event: &Envelope<E>, job: &mut JobContext) -> Result<(), ListenerError>;

    /// Runs once when the job has failed for good and moved to `failed_jobs`.
    async fn failed(&self, _event: &Envelope<E>, _failure: &JobFailure) {}

    /// How long after the commit this event's job becomes ready, when the listener computes it
    /// from the event (e.g. a reminder due a set time after something the event carries);
    /// `None` (the default) uses the delay of its [`QueueOptions`](crate::QueueOptions).
    fn delay(&self, _event: &Envelope<E>) -> Option<std::time::Duration> {
        None
    }

    /// With [`QueueOptions::without_overlapping`](crate::QueueOptions::without_overlapping), the
    /// key two of this listener's jobs must not share to run at once (computed when the job is
    /// enqueued and stored with it). The default is the event's aggregate id.
    fn overlap_key(&self, event: &Envelope<E>) -> String {
        event.event().aggregate_id()
    }

    /// Whether this listener's jobs may share a transaction: set it when [`handle`](Self::handle)
    /// does nothing but database work through its job's unit of work (no mail, no HTTP, no other
    /// slow call, no reads through the pool that inform its writes). A worker then runs several
    /// such jobs of a claim in one transaction, each in a savepoint of its own: a job that fails
    /// rolls back to its savepoint alone (its acknowledgement with it) and is retried as ever;
    /// the others commit together, with one commit instead of one each. A listener without
    /// overlapping takes its lock in its savepoint; one with a rate limit never shares.
    const SHARES_TRANSACTION: bool = false;

    /// Whether a worker calls [`prepare`](Self::prepare) with this listener's claimed jobs.
    const PREPARES_BATCHES: bool = false;

    /// Called by a worker, when [`PREPARES_BATCHES`](Self::PREPARES_BATCHES) is set, with the
    /// events of two or more of this listener's jobs it has just claimed together (one event
    /// type, oldest first), before it runs them one by one: a listener whose effect has a bulk
    /// form (an HTTP API that takes batches) does it once for all of them here, and each job's
    /// [`handle`](Self::handle) then finds its part done. It is only a head start: it runs
    /// outside any transaction, without the listener's middleware (the worker skips it for a
    /// rate-limited or non-overlapping listener), bounded by the listener's try timeout and, like
    /// a running job, cut short when a shutdown's grace period is over. Every job still runs, is
    /// retried and fails on its own, so `handle` must do the work itself when preparation did
    /// not (e.g. it failed or was cut short).
    async fn prepare(&self, _events: &[Envelope<E>]) {}
}

/// A sync listener for every event (e.g. the audit log).
#[async_trait]
pub trait WildcardSyncListener: Send + Sync + 'static {
    /// The listener's name.
    const NAME: &'static str;

    /// Handles one event of any type.
    async fn handle(&self, event: &SharedEnvelope, uow: &mut UnitOfWork) -> Result<(), ListenerError>;
}

/// A queued listener for every event; it sees the event as JSON.
#[async_trait]
pub trait WildcardQueuedListener: Send + Sync + 'static {
    /// The listener's name.
    const NAME: &'static str;

    /// Whether a job is created for this event at all (checked in the command's transaction).
    fn wants(&self, _event: &dyn AnyEnvelope) -> bool {
        true
    }

    /// Handles one event of any type.
    async fn handle(&self, event: &JsonEvent, job: &mut JobContext) -> Result<(), ListenerError>;

    /// Whether its jobs may share a transaction, each in a savepoint (see
    /// [`QueuedListener::SHARES_TRANSACTION`]).
    const SHARES_TRANSACTION: bool = false;

    /// Runs once when the job has failed for good.
    async fn failed(&self, _event: &JsonEvent, _failure: &JobFailure) {}
}

// ---- type-erased forms -------------------------------------------------------------------

/// The future a listener returns (what `async_trait` produces).
pub(crate) type ListenerFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ListenerError>> + Send + 'a>>;

/// Written by hand rather than with `async_trait` so the listener's own boxed future is passed
/// through: one allocation per listener call instead of two (this is the dispatch hot path).
pub(crate) trait ErasedSync: Send + Sync {
    fn handle<'a>(&'a self, event: &'a SharedEnvelope, uow: &'a mut UnitOfWork) -> ListenerFuture<'a>;
}

pub(crate) struct TypedSync<E, L>(pub(crate) L, pub(crate) PhantomData<fn(E)>);

impl<E: DomainEvent, L: SyncListener<E>> ErasedSync for TypedSync<E, L> {
    fn handle<'a>(&'a self, event: &'a SharedEnvelope, uow: &'a mut UnitOfWork) -> ListenerFuture<'a> {
        match event.downcast::<E>() {
            Some(typed) => self.0.handle(typed, uow),
            None => {
                let error = ListenerError::permanent(format!("{} was given a `{}` event", L::NAME, event.name()));
                Box::pin(std::future::ready(Err(error)))
            }
        }
    }
}

pub(crate) struct WildSync<L>(pub(crate) L);

impl<L: WildcardSyncListener> ErasedSync for WildSync<L> {
    fn handle<'a>(&'a self, event: &'a SharedEnvelope, uow: &'a mut UnitOfWork) -> ListenerFuture<'a> {
        self.0.handle(event, uow)
    }
}

#[async_trait]
pub(crate) trait ErasedQueued: Send + Sync {
    /// Whether a job is created for this event.
    fn wants(&self, event: &dyn AnyEnvelope) -> bool;
    /// Rebuilds the event from the payload, sets the job's causality and runs the listener.
    async fn handle(&self, event_name: &str, payload: &str, job: &mut JobContext) -> Result<(), ListenerError>;
    /// Runs the failed hook (a payload that cannot be rebuilt skips it).
    async fn failed(&self, event_name: &str, payload: &str, failure: &JobFailure);
    /// The listener's own delay for this event, if it computes one.
    fn delay(&self, _event: &dyn AnyEnvelope) -> Option<std::time::Duration> {
        None
    }
    /// The key its jobs for this event must not share with a running one (used only with
    /// `without_overlapping`).
    fn overlap_key(&self, event: &dyn AnyEnvelope) -> Option<String> {
        Some(event.aggregate_id())
    }
    /// Whether [`prepare`](Self::prepare) does anything (see [`QueuedListener::prepare`]).
    fn prepares_batches(&self) -> bool {
        false
    }
    /// Whether its jobs may share a transaction (see [`QueuedListener::SHARES_TRANSACTION`]).
    fn shares_transaction(&self) -> bool;
    /// Rebuilds the claimed jobs' events and lets the listener prepare them together.
    async fn prepare(&self, _payloads: &[&str]) {}
}

pub(crate) struct TypedQueued<E, L>(pub(crate) L, pub(crate) PhantomData<fn(E)>);

fn rebuild<E: DomainEvent>(payload: &str) -> Result<Envelope<E>, ListenerError> {
    Envelope::<E>::from_json(payload)
        .map_err(|e| ListenerError::permanent(format!("the `{}` payload cannot be rebuilt: {e}", E::NAME)))
}

#[async_trait]
impl<E: DomainEvent, L: QueuedListener<E>> ErasedQueued for TypedQueued<E, L> {
    fn wants(&self, _event: &dyn AnyEnvelope) -> bool {
        true
    }

    fn delay(&self, event: &dyn AnyEnvelope) -> Option<std::time::Duration> {
        event.downcast::<E>().and_then(|event| self.0.delay(event))
    }

    fn overlap_key(&self, event: &dyn AnyEnvelope) -> Option<String> {
        event.downcast::<E>().map(|event| self.0.overlap_key(event))
    }

    fn prepares_batches(&self) -> bool {
        L::PREPARES_BATCHES
    }

    fn shares_transaction(&self) -> bool {
        L::SHARES_TRANSACTION
    }

    async fn prepare(&self, payloads: &[&str]) {
        // A payload that does not rebuild is left to its job, which fails on it.
        let events: Vec<Envelope<E>> = payloads.iter().filter_map(|p| rebuild::<E>(p).ok()).collect();
        if events.len() > 1 {
            self.0.prepare(&events).await;
        }
    }

    async fn handle(&self, _event_name: &str, payload: &str, job: &mut JobContext) -> Result<(), ListenerError> {
        let event = rebuild::<E>(payload)?;
        job.caused_by(event.meta());
        self.0.handle(&event, job).await
    }

    async fn failed(&self, _event_name: &str, payload: &str, failure: &JobFailure) {
        if let Ok(event) = rebuild::<E>(payload) {
            self.0.failed(&event, failure).await;
        }
    }
}

pub(crate) struct WildQueued<L>(pub(crate) L);

#[async_trait]
impl<L: WildcardQueuedListener> ErasedQueued for WildQueued<L> {
    fn wants(&self, event: &dyn AnyEnvelope) -> bool {
        self.0.wants(event)
    }

    fn shares_transaction(&self) -> bool {
        L::SHARES_TRANSACTION
    }

    async fn handle(&self, event_name: &str, payload: &str, job: &mut JobContext) -> Result<(), ListenerError> {
        let event = JsonEvent::from_payload(event_name, payload)
            .map_err(|e| ListenerError::permanent(format!("the `{event_name}` payload cannot be read: {e}")))?;
        job.caused_by(event.meta());
        self.0.handle(&event, job).await
    }

    async fn failed(&self, event_name: &str, payload: &str, failure: &JobFailure) {
        if let Ok(event) = JsonEvent::from_payload(event_name, payload) {
            self.0.failed(&event, failure).await;
        }
    }
}

/// Runs jobs that a listener enqueued itself rather than one per event (e.g. a mail to send, so
/// that it is delivered and retried apart from the listener's database writes). Registered with
/// [`RegistryBuilder::job`](crate::RegistryBuilder::job); a job row names it by `KIND` (its
/// `event_name`) and `NAME` (its `listener`).
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The kind of job (stored as the job's event name), e.g. `mail`.
    const KIND: &'static str;
    /// The handler's name (stored as the job's listener), e.g. `SendMail`.
    const NAME: &'static str;

    /// Runs one job from its payload.
    async fn handle(&self, payload: &str, job: &mut JobContext) -> Result<(), ListenerError>;

    /// Whether its jobs may share a transaction, each in a savepoint (see
    /// [`QueuedListener::SHARES_TRANSACTION`]).
    const SHARES_TRANSACTION: bool = false;

    /// Runs once when the job has failed for good.
    async fn failed(&self, _payload: &str, _failure: &JobFailure) {}
}

pub(crate) struct DirectJob<H>(pub(crate) H);

#[async_trait]
impl<H: JobHandler> ErasedQueued for DirectJob<H> {
    fn wants(&self, _event: &dyn AnyEnvelope) -> bool {
        false
    }

    fn shares_transaction(&self) -> bool {
        H::SHARES_TRANSACTION
    }

    async fn handle(&self, _event_name: &str, payload: &str, job: &mut JobContext) -> Result<(), ListenerError> {
        self.0.handle(payload, job).await
    }

    async fn failed(&self, _event_name: &str, payload: &str, failure: &JobFailure) {
        self.0.failed(payload, failure).await;
    }
}

pub(crate) type SyncHandler = Arc<dyn ErasedSync>;
pub(crate) type QueuedHandler = Arc<dyn ErasedQueued>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner cause")]
    struct Inner;

    #[test]
    fn a_listener_error_shows_its_whole_cause_chain() {
        let err = ListenerError::new(Outer(Inner));
        assert_eq!(err.to_string(), "outer: inner cause");
        assert!(!err.is_permanent());
    }

    #[test]
    fn a_permanent_error_says_so() {
        assert!(ListenerError::permanent("gone").is_permanent());
    }

    #[test]
    fn an_error_may_ask_for_its_retry_at_a_given_wait() {
        let err = ListenerError::msg("busy").retry_after(std::time::Duration::from_secs(120));
        assert_eq!(err.requested_wait(), Some(std::time::Duration::from_secs(120)));
        assert_eq!(ListenerError::msg("busy").requested_wait(), None);
    }
}
