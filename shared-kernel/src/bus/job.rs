//! [`JobContext`]: what a queued listener gets besides its event. It lives with the bus (not
//! with the queue that claims jobs) because listeners are written against it: the queue depends
//! on the bus, never the other way round.

use super::event::EventMeta;
use super::uow::{EventBus, UnitOfWork, UowError};

/// Which job a [`JobContext`] is for: what the worker read when it claimed and started it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobIdentity<'a> {
    pub(crate) id: &'a str,
    pub(crate) event_id: &'a str,
    pub(crate) listener: &'a str,
    pub(crate) attempts: i64,
    pub(crate) max_tries: i64,
}

/// What a queued listener gets besides its event: the job's identity and a unit of work whose
/// writes commit together with the job's acknowledgement.
pub struct JobContext {
    uow: UnitOfWork,
    job_id: String,
    event_id: String,
    listener: String,
    attempt: u32,
    max_tries: u32,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.job_id)
            .field("listener", &self.listener)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl JobContext {
    /// The context of a claimed job held under `token`: its unit of work acknowledges the job as
    /// its first statement.
    pub(crate) fn for_job(bus: &EventBus, job: JobIdentity<'_>, token: &str) -> Self {
        let mut uow = bus.begin();
        uow.acknowledge_on_open(job.id, token);
        Self {
            uow,
            job_id: job.id.to_owned(),
            event_id: job.event_id.to_owned(),
            listener: job.listener.to_owned(),
            attempt: u32::try_from(job.attempts).unwrap_or(u32::MAX),
            max_tries: u32::try_from(job.max_tries).unwrap_or(u32::MAX),
        }
    }

    /// A context for running a queued listener outside a worker (tests, manual replays). Its
    /// unit of work is committed by [`JobContext::finish`].
    pub fn standalone(bus: &EventBus, listener: &str, cause: &EventMeta) -> Self {
        let mut uow = bus.begin();
        uow.set_cause(cause);
        Self {
            uow,
            job_id: String::new(),
            event_id: cause.event_id().to_string(),
            listener: listener.to_owned(),
            attempt: 1,
            max_tries: 1,
        }
    }

    /// Commits a standalone context's unit of work.
    pub async fn finish(self) -> Result<(), UowError> {
        self.uow.commit().await.map(|_| ())
    }

    /// The unit of work for this job's database writes and events. It commits only if the
    /// listener succeeds, in the same transaction as the job's acknowledgement.
    pub fn uow(&mut self) -> &mut UnitOfWork {
        &mut self.uow
    }

    /// The bus, for reads that need no transaction (through [`Database::pool`](crate::Database::pool),
    /// which never waits for this job's own write transaction). Beginning another unit of work on
    /// it while this job's is open is [`UowError::Nested`].
    pub fn bus(&self) -> &EventBus {
        self.uow.bus()
    }

    /// `(event_id, listener)` as one string: the key external effects (mail) are deduplicated by.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.event_id, self.listener)
    }

    /// The job's id (empty for a standalone context).
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// Which try this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether a failure now is final.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_tries
    }

    pub(crate) fn caused_by(&mut self, meta: &EventMeta) {
        self.uow.set_cause(meta);
    }

    pub(crate) fn into_uow(self) -> UnitOfWork {
        self.uow
    }
}
