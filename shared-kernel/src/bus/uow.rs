//! The event bus and the unit of work: one command, one transaction, its events, its outbox.
//!
//! A command calls [`EventBus::begin`], does its reads and writes through
//! [`UnitOfWork::conn`], records events with [`UnitOfWork::record`] and calls
//! [`UnitOfWork::commit`], which:
//!
//! 1. runs the sync listeners of every recorded event, breadth-first, including the events they
//!    record (each carrying the correlation id of the cascade and the id of the event that
//!    caused it), up to a bounded cascade depth;
//! 2. writes the audit rows and one job row per (event, queued listener) in the same
//!    transaction — the transactional outbox;
//! 3. commits, and only then publishes broadcasts, wakes idle workers (on PostgreSQL also those
//!    of other processes, with `NOTIFY`) and tells observers.
//!
//! Dropping a unit of work, rolling it back or any error before the commit leaves nothing behind
//! and triggers nothing.
//!
//! On PostgreSQL write transactions are SERIALIZABLE (on SQLite writers are serial anyway), so a
//! command whose rule depends on rows it read cannot interleave with another; the loser of a
//! conflict fails with a serialization failure and [`EventBus::retrying`] runs it again. A task
//! holds at most one write transaction per bus: opening a second one inside the first (a sync
//! listener or a job beginning its own unit of work) is [`UowError::Nested`], at once, instead of
//! waiting for a connection the first one holds.

use std::fmt;
use std::sync::Arc;

use sqlx::{Any, AnyConnection, Transaction};
use tracing::Instrument;

use super::broadcaster::BroadcastMessage;
use super::event::{DomainEvent, Envelope, EventMeta, SharedEnvelope};
use super::event_bus::Writing;
pub(crate) use super::event_bus::conflict_backoff;
pub use super::event_bus::{CONFLICT_RETRIES, CommitObserver, EventBus, EventBusBuilder, is_conflict};
use super::group_commit::Seat;
use super::listener::ListenerError;
use super::outbox;
use super::system::StateTransitioned;
use crate::clock::to_micros;
use crate::db::Backend;
use crate::ids::{CorrelationId, EventId, UserId};
use crate::metrics::ListenerMode;

/// Why a unit of work could not commit. In every case nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum UowError {
    /// The database failed. Maps to 500/503; the text is for logs, not clients.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A sync listener failed, so the command was rolled back. Maps to 500 unless the caller
    /// knows the listener's error means something more specific.
    #[error("sync listener `{listener}` failed on `{event}`")]
    Listener {
        /// The listener.
        listener: &'static str,
        /// The event it was handling.
        event: &'static str,
        /// Its error.
        #[source]
        source: ListenerError,
    },
    /// Listeners kept recording events past the depth limit (most likely a cycle).
    #[error("event cascade exceeded depth {limit} at `{event}`: likely a listener cycle")]
    CascadeTooDeep {
        /// The event that would have gone past the limit.
        event: &'static str,
        /// The limit.
        limit: u32,
    },
    /// An event could not be serialized for its job payload.
    #[error("event `{event}` cannot be serialized")]
    Serialize {
        /// The event.
        event: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A sync listener failed earlier in this unit of work; it can only be rolled back.
    #[error("this unit of work already failed and can only be rolled back")]
    Poisoned,
    /// A unit of work was opened while this task already holds a write transaction on the same
    /// bus (e.g. a sync listener calling `bus().begin()`): use the unit of work you were given.
    #[error(
        "a unit of work was opened inside another one on the same bus; a listener must use the unit of work it is given"
    )]
    Nested,
    /// The job this unit of work acknowledges is no longer held by this worker (its lease ended
    /// and another worker took it). Nothing was written.
    #[error("the job's lease was lost; another worker owns it now")]
    LeaseLost,
    /// The group commit this command's work was staged in failed (see
    /// [`group_commit`](super::group_commit)): nothing of the group committed. Maps to 500/503.
    #[error("the group commit of this command failed: {0}")]
    GroupCommit(String),
    /// A transaction shared by several jobs broke (a savepoint could not be rolled back): none
    /// of its jobs was acknowledged, and they run again one by one.
    #[error("the transaction shared by several jobs broke; its jobs run again")]
    SharedTransactionBroken,
}

impl UowError {
    /// Whether this is a conflict with a concurrent transaction that running the same command
    /// again resolves (see [`is_conflict`]).
    pub fn is_conflict(&self) -> bool {
        is_conflict(self)
    }
}

impl From<sqlx::Error> for UowError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

/// The outcome of a commit.
#[derive(Debug, Default)]
pub struct Committed {
    events: Vec<SharedEnvelope>,
    jobs: usize,
}

impl Committed {
    /// The committed events, in dispatch order (command's first, then each cascade level).
    pub fn events(&self) -> &[SharedEnvelope] {
        &self.events
    }

    /// How many jobs were enqueued.
    pub fn jobs(&self) -> usize {
        self.jobs
    }
}

/// One command's transaction, events and outbox. See the module docs.
pub struct UnitOfWork {
    bus: EventBus,
    tx: Option<Transaction<'static, Any>>,
    /// A transaction shared by several jobs, lent to this job's unit of work and not used yet:
    /// opening takes it as `tx` inside a savepoint (see [`super::shared_tx`]).
    lent: Option<Transaction<'static, Any>>,
    /// Whether this unit of work was lent a shared transaction (then `tx`, once opened, is it).
    borrowed: bool,
    /// Whether `tx` is a lent transaction in which this unit of work's savepoint is open.
    savepoint: bool,
    /// Its turn in the bus's group commit, while it holds the group's transaction as `tx`.
    seat: Option<Seat>,
    /// The task registered as holding `tx` (see [`UowError::Nested`]).
    writer: Option<Writing>,
    /// A job to acknowledge as the transaction's first statement: `(job id, lease token)`.
    ack: Option<(String, String)>,
    actor: Option<UserId>,
    correlation: Option<CorrelationId>,
    root_cause: Option<EventId>,
    /// The event whose sync listeners are running: the cause of what they record.
    current: Option<EventId>,
    /// Every event recorded, in order: `events[..next]` have been dispatched, the rest are
    /// pending. One list, so dispatching moves a cursor rather than the events.
    events: Vec<SharedEnvelope>,
    next: usize,
    audit: Vec<SharedEnvelope>,
    /// Jobs enqueued directly (not per event), written with the outbox.
    direct_jobs: Vec<outbox::JobRow>,
    poisoned: bool,
    /// A unit of work of the kernel's own (an `ActionFailed`): it takes no request's
    /// idempotency key and tells no command scope about itself.
    system: bool,
}

impl fmt::Debug for UnitOfWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnitOfWork")
            .field("open", &self.tx.is_some())
            .field("actor", &self.actor)
            .field("pending", &(self.events.len() - self.next))
            .field("dispatched", &self.next)
            .finish_non_exhaustive()
    }
}

impl UnitOfWork {
    pub(super) fn new(bus: EventBus) -> Self {
        Self {
            bus,
            tx: None,
            lent: None,
            borrowed: false,
            savepoint: false,
            seat: None,
            writer: None,
            ack: None,
            actor: None,
            correlation: None,
            root_cause: None,
            current: None,
            events: Vec::new(),
            next: 0,
            audit: Vec::new(),
            direct_jobs: Vec::new(),
            poisoned: false,
            system: false,
        }
    }

    /// Sets who performs the command; every event it records carries this actor.
    pub fn with_actor(mut self, actor: Option<UserId>) -> Self {
        self.actor = actor;
        self
    }

    /// Joins an existing cascade (e.g. a request id), instead of starting a new one.
    pub fn with_correlation(mut self, correlation: CorrelationId) -> Self {
        self.correlation = Some(correlation);
        self
    }

    /// Makes this a unit of work of the kernel's own (see [`super::system`]).
    pub(crate) fn system(mut self) -> Self {
        self.system = true;
        self
    }

    /// The cascade this unit of work belongs to, once known (joined, or set by the first event).
    pub(crate) fn correlation(&self) -> Option<CorrelationId> {
        self.correlation
    }

    /// Who performs the command.
    pub fn actor(&self) -> Option<UserId> {
        self.actor
    }

    /// The bus this unit of work belongs to.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Makes the events recorded from now on (outside sync dispatch) effects of `cause`:
    /// used for a queued listener's unit of work.
    pub(crate) fn set_cause(&mut self, cause: &EventMeta) {
        self.correlation = Some(cause.correlation_id());
        self.root_cause = Some(cause.event_id());
        if self.actor.is_none() {
            self.actor = cause.actor_id();
        }
    }

    /// Makes this unit of work a job's: its transaction's first statement acknowledges (deletes)
    /// the job, still held under `token`, so the listener's writes and the acknowledgement commit
    /// together, and on PostgreSQL the job's row stays locked while the transaction runs.
    pub(crate) fn acknowledge_on_open(&mut self, job_id: &str, token: &str) {
        self.ack = Some((job_id.to_owned(), token.to_owned()));
    }

    /// The transaction's connection, for repositories. Opens the write transaction on first use.
    ///
    /// # Errors
    /// [`UowError::Nested`] when this task already holds another write transaction of this bus;
    /// [`UowError::LeaseLost`] for a job whose lease another worker took; database failures.
    pub async fn conn(&mut self) -> Result<&mut AnyConnection, UowError> {
        if self.tx.is_none() {
            self.open().await?;
        }
        Ok(&mut **self.tx.as_mut().expect("opened above"))
    }

    async fn open(&mut self) -> Result<(), UowError> {
        if let Some(tx) = self.lent.take() {
            return self.open_savepoint(tx).await;
        }
        // Given back as it drops, should the opening fail or be cancelled.
        let writer = self.bus.enter_writer()?;
        // A command (not a job, not the kernel's own) takes its turn in the group commit.
        if let (Some(group), None, false) = (&self.bus.inner.group_commit, &self.ack, self.system) {
            let (seat, tx) = group.join(&self.bus).await?;
            self.writer = Some(writer);
            self.seat = Some(seat);
            self.tx = Some(tx);
            return Ok(());
        }
        let mut tx = self.bus.db().begin_write().await?;
        self.writer = Some(writer);
        if let Some((job, token)) = &self.ack {
            // The acknowledgement, and the pair's line in the delivery ledger, come first: the
            // job's writes commit with them or not at all.
            let acked = sqlx::query(super::ledger::ack_one_sql(self.bus.db().backend()))
                .bind(job.clone())
                .bind(token.clone())
                .bind(to_micros(self.bus.clock().now()))
                .fetch_all(&mut *tx)
                .await?
                .len();
            if acked != 1 {
                drop(tx);
                self.release_writer();
                return Err(UowError::LeaseLost);
            }
        }
        self.tx = Some(tx);
        Ok(())
    }

    /// Opens this job's savepoint in the lent shared transaction and acknowledges the job in it
    /// (on SQLite in one round trip). The transaction stays with this unit of work whatever
    /// happens, for its lender to take back ([`UnitOfWork::take_shared`]).
    async fn open_savepoint(&mut self, tx: Transaction<'static, Any>) -> Result<(), UowError> {
        let backend = self.bus.db().backend();
        let now = to_micros(self.bus.clock().now());
        let tx = self.tx.insert(tx);
        self.savepoint = true;
        let Some((job, token)) = &self.ack else {
            sqlx::raw_sql(super::shared_tx::OPEN_SAVEPOINT)
                .execute(&mut **tx)
                .await?;
            return Ok(());
        };
        let ack = super::ledger::ack_one_sql(backend);
        let sql = match backend {
            Backend::Sqlite => format!("{};\n{ack}", super::shared_tx::OPEN_SAVEPOINT),
            Backend::Postgres => {
                sqlx::raw_sql(super::shared_tx::OPEN_SAVEPOINT)
                    .execute(&mut **tx)
                    .await?;
                ack.to_owned()
            }
        };
        let acked = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(job.clone())
            .bind(token.clone())
            .bind(now)
            .fetch_all(&mut **tx)
            .await?
            .len();
        if acked != 1 {
            return Err(UowError::LeaseLost);
        }
        Ok(())
    }

    /// Lends this job's unit of work a transaction shared with other jobs (see
    /// [`super::shared_tx`]): its first use opens a savepoint in it.
    pub(crate) fn lend(&mut self, tx: Transaction<'static, Any>) {
        self.lent = Some(tx);
        self.borrowed = true;
    }

    /// Gives a lent transaction back, with whether this unit of work's savepoint is still open in
    /// it (then its lender rolls back to it). `None` for a unit of work that was lent none.
    pub(crate) fn take_shared(&mut self) -> Option<(Transaction<'static, Any>, bool)> {
        if !self.borrowed {
            return None;
        }
        if let Some(tx) = self.lent.take() {
            return Some((tx, false));
        }
        let open = std::mem::take(&mut self.savepoint);
        self.tx.take().map(|tx| (tx, open))
    }

    /// Stages this job's work in its savepoint of a lent transaction and releases the savepoint
    /// (with the outbox, in its round trip on SQLite): the work then commits with the shared
    /// transaction. Returns the transaction (with whether the savepoint is still open, after a
    /// failure) and what to publish after the commit (`None` for a job that wrote nothing, which
    /// its lender acknowledges).
    pub(crate) async fn stage_in_savepoint(
        &mut self,
    ) -> (
        Option<(Transaction<'static, Any>, bool)>,
        Result<Option<Staged>, UowError>,
    ) {
        let staged = match self.stage().await {
            Ok(staged) => staged,
            Err(e) => return (self.take_shared(), Err(e)),
        };
        if let (Some(tx), true) = (self.tx.as_mut(), self.savepoint) {
            if let Err(e) = sqlx::raw_sql(super::shared_tx::RELEASE_SAVEPOINT)
                .execute(&mut **tx)
                .await
            {
                return (self.take_shared(), Err(e.into()));
            }
            self.savepoint = false;
        }
        (self.take_shared(), Ok(staged))
    }

    fn release_writer(&mut self) {
        self.writer = None;
    }

    /// Whether the transaction has been opened or events recorded: whether a commit has work.
    pub fn has_work(&self) -> bool {
        self.tx.is_some() || !self.events.is_empty()
    }

    /// Records an event. Its sync listeners run at the next [`dispatch`](Self::dispatch) or at
    /// commit; it is dispatched for good only if the commit succeeds.
    pub fn record<E: DomainEvent>(&mut self, event: E) -> EventId {
        let event_id = EventId::new();
        let causation = self.current.or(self.root_cause);
        let correlation = *self
            .correlation
            .get_or_insert_with(|| CorrelationId::from_uuid(event_id.as_uuid()));
        let now = self.bus.clock().now();
        let transitioned = event.transition().map(|transition| StateTransitioned {
            aggregate_type: E::AGGREGATE_TYPE.to_owned(),
            aggregate_id: event.aggregate_id(),
            from_state: transition.from().to_owned(),
            to_state: transition.to().to_owned(),
            caused_by: E::NAME.to_owned(),
            causing_event_id: event_id,
        });
        let meta = EventMeta::new(event_id, now, self.actor, correlation, causation);
        self.events.push(Arc::new(Envelope::new(meta, event)));
        // The one place state changes are recorded: right after their cause, in its transaction.
        if let Some(transitioned) = transitioned {
            let meta = EventMeta::new(EventId::new(), now, self.actor, correlation, Some(event_id));
            self.events.push(Arc::new(Envelope::new(meta, transitioned)));
        }
        event_id
    }

    /// The events recorded so far (dispatched first, then pending).
    pub fn recorded(&self) -> impl Iterator<Item = &SharedEnvelope> {
        self.events.iter()
    }

    /// Enqueues a job for a registered [`JobHandler`](crate::JobHandler) (`kind`, `name`), written
    /// with this unit of work's outbox: it exists iff the unit of work commits. `key` is its
    /// identity (stored as the job's event id): one job per (`key`, `name`).
    pub(crate) fn enqueue_job(
        &mut self,
        kind: &'static str,
        name: &'static str,
        key: String,
        payload: String,
        options: &crate::QueueOptions,
    ) {
        self.direct_jobs.push(outbox::JobRow {
            id: uuid::Uuid::now_v7().to_string(),
            queue: options.queue().to_owned(),
            event_id: key,
            event_name: kind,
            listener: name,
            payload: payload.into(),
            max_tries: i64::from(options.max_tries()),
            delay_micros: i64::try_from(options.default_delay().as_micros()).unwrap_or(i64::MAX),
            priority: options.job_priority().stored(),
            overlap_key: None,
        });
    }

    /// Queues an event's audit row for this transaction (the audit log listener's job).
    pub(crate) fn push_audit(&mut self, event: &SharedEnvelope) {
        self.audit.push(event.clone());
    }

    /// Runs the sync listeners of every pending event, breadth-first, including the events they
    /// record. On error the unit of work can only be rolled back.
    pub async fn dispatch(&mut self) -> Result<(), UowError> {
        if self.poisoned {
            return Err(UowError::Poisoned);
        }
        let result = self.dispatch_pending().await;
        self.current = None;
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    async fn dispatch_pending(&mut self) -> Result<(), UowError> {
        let limit = self.bus.inner.max_depth;
        // Breadth-first: the events pending now are the command's own (depth 0); those their
        // listeners record form the next level, and so on. `level_end` is where a level ends.
        let mut depth = 0;
        // Spans cost an allocation-free but measurable few nanoseconds each; skip them when
        // nobody listens at debug level (the dispatch hot path).
        let traced = tracing::enabled!(tracing::Level::DEBUG);
        let mut level_end = self.events.len();
        while self.next < self.events.len() {
            if self.next == level_end {
                depth += 1;
                level_end = self.events.len();
            }
            let event = self.events[self.next].clone();
            if depth > limit {
                return Err(UowError::CascadeTooDeep {
                    event: event.name(),
                    limit,
                });
            }
            self.current = Some(event.meta().event_id());
            let dispatch_span = if traced {
                tracing::debug_span!(
                    "dispatch",
                    event = event.name(),
                    event_id = %event.meta().event_id(),
                    depth
                )
            } else {
                tracing::Span::none()
            };
            let listeners = self.bus.inner.registry.sync_for(&*event);
            for (listener, handler) in listeners.iter() {
                let started = std::time::Instant::now();
                let result = if traced {
                    let span = tracing::debug_span!(
                        parent: &dispatch_span,
                        "sync listener",
                        listener = *listener,
                        event = event.name(),
                        event_id = %event.meta().event_id()
                    );
                    handler.handle(&event, self).instrument(span).await
                } else {
                    handler.handle(&event, self).await
                };
                crate::metrics::listener_ran(listener, ListenerMode::Sync, started.elapsed(), result.is_err());
                if let Err(source) = result {
                    return Err(UowError::Listener {
                        listener,
                        event: event.name(),
                        source,
                    });
                }
            }
            self.next += 1;
        }
        Ok(())
    }

    /// Dispatches what is pending, writes the outbox and commits. See the module docs.
    pub async fn commit(mut self) -> Result<Committed, UowError> {
        let span = tracing::info_span!("commit", events = tracing::field::Empty, jobs = tracing::field::Empty);
        async move {
            let Some(staged) = self.stage().await? else {
                return Ok(Committed::default());
            };
            tracing::Span::current().record("events", staged.events.len());
            tracing::Span::current().record("jobs", staged.jobs);
            if let Some(seat) = self.seat.take() {
                let tx = self
                    .tx
                    .take()
                    .expect("a seated unit of work holds the group's transaction");
                self.release_writer();
                return seat.stage(tx, staged, &self.bus).await;
            }
            if let Some(tx) = self.tx.take() {
                let committed = tx.commit().await;
                self.release_writer();
                committed?;
            }
            Ok(staged.publish(&self.bus).await)
        }
        .instrument(span)
        .await
    }

    /// Dispatches what is pending and writes the outbox in the transaction, short of committing:
    /// `None` when there is nothing to commit.
    async fn stage(&mut self) -> Result<Option<Staged>, UowError> {
        self.dispatch().await?;
        if !self.has_work() {
            return Ok(None);
        }
        let now = self.bus.clock().now();
        let mut jobs = outbox::job_rows(&self.bus, &self.events, now)?;
        let broadcasts = super::broadcast_rows::rows(&self.events);
        let tags = outbox::tag_rows(&self.events);
        jobs.append(&mut self.direct_jobs);
        let audit = std::mem::take(&mut self.audit);
        let idempotency = if self.system {
            None
        } else {
            super::event_bus::pending_idempotency()
        };
        let db = self.bus.db().clone();
        let clock_offset = self.bus.clock().database_offset();
        let conn = self.conn().await?;
        if let Some(claim) = &idempotency {
            let claim = claim.lock().unwrap_or_else(|p| p.into_inner()).clone();
            sqlx::query(
                "INSERT INTO idempotency_keys (user_id, idempotency_key, request_hash, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(claim.user_id)
            .bind(claim.key)
            .bind(claim.request_hash)
            .bind(crate::clock::to_micros(now))
            .execute(&mut *conn)
            .await?;
        }
        // A savepoint (a job sharing a transaction, a command in a group) is released with the
        // outbox, in its round trip on SQLite.
        let release = if self.savepoint {
            Some(super::shared_tx::RELEASE_SAVEPOINT)
        } else {
            self.seat.as_ref().and_then(Seat::release_sql)
        };
        let conn = &mut **self.tx.as_mut().expect("opened above");
        let rows = outbox::Rows {
            audit: &audit,
            jobs: &jobs,
            broadcasts: &broadcasts,
            tags: &tags,
            then: release,
        };
        outbox::write(conn, &db, rows, now, clock_offset).await?;
        if release.is_some() {
            self.savepoint = false;
            if let Some(seat) = self.seat.as_mut() {
                seat.released();
            }
        }
        let mut queues: Vec<String> = Vec::new();
        for job in &jobs {
            if !queues.contains(&job.queue) {
                queues.push(job.queue.clone());
            }
        }
        Ok(Some(Staged {
            events: std::mem::take(&mut self.events),
            jobs: jobs.len(),
            queues,
            broadcasts: !broadcasts.is_empty(),
            idempotency,
        }))
    }

    /// Rolls back explicitly. Dropping the unit of work does the same.
    pub async fn rollback(mut self) -> Result<(), UowError> {
        if let Some(seat) = self.seat.take() {
            seat.abandon(self.tx.take(), &self.bus);
            self.release_writer();
            return Ok(());
        }
        if let Some(tx) = self.tx.take() {
            let rolled_back = tx.rollback().await;
            self.release_writer();
            rolled_back?;
        }
        Ok(())
    }
}

/// A unit of work's writes, staged in its transaction: what to tell once that commits.
#[derive(Debug)]
pub(crate) struct Staged {
    events: Vec<SharedEnvelope>,
    jobs: usize,
    /// The distinct queues of its jobs.
    queues: Vec<String>,
    broadcasts: bool,
    idempotency: Option<Arc<std::sync::Mutex<super::event_bus::IdempotencyClaim>>>,
}

impl Staged {
    /// After the commit: marks the request's idempotency key committed, publishes broadcasts,
    /// wakes idle workers, tells observers and, on PostgreSQL, notifies other processes.
    pub(crate) async fn publish(self, bus: &EventBus) -> Committed {
        Self::publish_all(vec![self], bus).await.pop().expect("one published")
    }

    /// [`Staged::publish`] for several units of work committed together, other processes
    /// notified once for all of them (in their order).
    pub(crate) async fn publish_all(staged: Vec<Staged>, bus: &EventBus) -> Vec<Committed> {
        let queues: Vec<String> = staged.iter().flat_map(|s| s.queues.iter().cloned()).collect();
        let broadcasts = staged.iter().any(|s| s.broadcasts);
        let committed = staged.into_iter().map(|s| s.publish_here(bus)).collect();
        // Workers and broadcast tailers in other processes LISTEN on PostgreSQL (see
        // `notify_committed` for why right after the commit rather than inside it).
        crate::db::notify_committed(bus.db(), queues.iter().map(String::as_str), broadcasts).await;
        committed
    }

    /// [`Staged::publish`] but for the notification of other processes.
    fn publish_here(self, bus: &EventBus) -> Committed {
        if let Some(claim) = &self.idempotency {
            claim.lock().unwrap_or_else(|p| p.into_inner()).committed = true;
        }
        let inner = &bus.inner;
        for event in &self.events {
            crate::metrics::event_dispatched(event.name());
            if let Some(broadcast) = event.broadcast() {
                let data = event.metadata();
                for channel in broadcast.channels() {
                    inner.broadcaster.publish(BroadcastMessage {
                        channel: channel.address(),
                        event: broadcast.name().to_owned(),
                        event_id: event.meta().event_id(),
                        data: data.clone(),
                    });
                }
            }
        }
        if self.jobs > 0 {
            inner.wake.signal();
        }
        if self.broadcasts {
            inner.broadcast_wake.signal();
        }
        for observer in &inner.observers {
            observer.committed(&self.events);
        }
        Committed {
            events: self.events,
            jobs: self.jobs,
        }
    }
}

impl Drop for UnitOfWork {
    fn drop(&mut self) {
        // The transaction (if any) rolls back as it drops; the task no longer holds a writer. A
        // lent transaction is its lender's to take back first (dropping it here would roll back
        // every job sharing it, which their lender then finds). A command in a group commit gives
        // the group's transaction back, its savepoint to be rolled back.
        if let Some(seat) = self.seat.take() {
            seat.abandon(self.tx.take(), &self.bus);
        }
        self.tx = None;
        self.release_writer();
        if !self.system {
            super::system::note_unit_of_work(self.actor, self.correlation);
        }
    }
}
