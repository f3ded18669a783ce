//! The [`EventBus`]: the entry point of every command (a database, a registry, the after-commit
//! ports), and [`EventBus::retrying`], which runs a command again when it lost a conflict with a
//! concurrent transaction.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::db::commit_watch::Wake;

use super::broadcaster::{Broadcaster, NullBroadcaster};
use super::event::SharedEnvelope;
use super::registry::Registry;
use super::uow::{UnitOfWork, UowError};
use crate::clock::{Clock, SystemClock};
use crate::db::Database;
use crate::ids::CorrelationId;

tokio::task_local! {
    static REQUEST_CORRELATION: CorrelationId;
}

/// Runs `work` so that every unit of work begun in it joins `correlation`: an HTTP request's
/// commands and everything they set off share one correlation id, which `audit --correlation`
/// finds.
pub async fn in_correlation<F: std::future::Future>(correlation: CorrelationId, work: F) -> F::Output {
    REQUEST_CORRELATION.scope(correlation, work).await
}

/// The idempotency key a request's command records in its own transaction (see
/// [`in_idempotency`]).
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    /// Whose key (empty for a request without a caller, such as sign-up).
    pub user_id: String,
    /// The key the client sent.
    pub key: String,
    /// A hash of the request (method, path, body).
    pub request_hash: String,
    /// Whether a unit of work committed it.
    pub committed: bool,
}

tokio::task_local! {
    static IDEMPOTENCY: Arc<Mutex<IdempotencyClaim>>;
}

/// Runs `work` so that the first unit of work that commits in it also records `claim` (in its own
/// transaction: the key exists iff the command's change committed). Afterwards
/// `claim.committed` says whether it did.
pub async fn in_idempotency<F: std::future::Future>(claim: Arc<Mutex<IdempotencyClaim>>, work: F) -> F::Output {
    IDEMPOTENCY.scope(claim, work).await
}

/// The claim to record in the committing transaction, if this task runs a request with an
/// idempotency key not yet recorded.
pub(super) fn pending_idempotency() -> Option<Arc<Mutex<IdempotencyClaim>>> {
    IDEMPOTENCY
        .try_with(Arc::clone)
        .ok()
        .filter(|claim| !claim.lock().unwrap_or_else(|p| p.into_inner()).committed)
}

/// How often [`EventBus::retrying`] runs a command that lost a conflict before giving up.
pub const CONFLICT_RETRIES: u32 = 8;

/// Whether `error`, or any error it was caused by, is a transaction conflict that retrying the
/// whole transaction resolves: a PostgreSQL serialization failure (`40001`), a deadlock
/// (`40P01`), or two transactions giving the same aggregate the same version.
pub fn is_conflict(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(sqlx::Error::Database(db)) = e.downcast_ref::<sqlx::Error>() {
            let code = db.code();
            if matches!(code.as_deref(), Some("40001" | "40P01")) {
                return true;
            }
            if db.constraint() == Some(super::outbox::AGGREGATE_VERSION_CONSTRAINT)
                || db.message().contains("domain_event_log.aggregate_version")
            {
                return true;
            }
        }
        cause = e.source();
    }
    false
}

/// Told about every committed unit of work's events, after the commit (e.g. the test fake).
pub trait CommitObserver: Send + Sync + 'static {
    /// The events of one committed unit of work, in dispatch order.
    fn committed(&self, events: &[SharedEnvelope]);
}

pub(super) struct BusInner {
    pub(super) db: Database,
    /// The tasks holding a write transaction of this bus (see [`UowError::Nested`]).
    pub(super) writers: Mutex<Vec<Holder>>,
    pub(super) registry: Arc<Registry>,
    pub(super) broadcaster: Arc<dyn Broadcaster>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) wake: Arc<Wake>,
    pub(super) broadcast_wake: Arc<Wake>,
    pub(super) observers: Vec<Arc<dyn CommitObserver>>,
    pub(super) max_depth: u32,
    /// Concurrent commands' shared commit (see [`super::group_commit`]); `None` when off.
    pub(super) group_commit: Option<super::group_commit::GroupCommit>,
}

/// The entry point of every command: a database, a registry and the after-commit ports.
/// Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    pub(super) inner: Arc<BusInner>,
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus")
            .field("backend", &self.inner.db.backend())
            .field("max_depth", &self.inner.max_depth)
            .finish_non_exhaustive()
    }
}

/// Builds an [`EventBus`].
pub struct EventBusBuilder {
    db: Database,
    registry: Arc<Registry>,
    broadcaster: Arc<dyn Broadcaster>,
    clock: Arc<dyn Clock>,
    observers: Vec<Arc<dyn CommitObserver>>,
    max_depth: u32,
    group_commit: Option<bool>,
}

impl EventBusBuilder {
    /// Whether concurrent commands share one transaction and one commit, each in a savepoint
    /// (see [`group_commit`](super::group_commit)). On by default on SQLite, whose writers are
    /// serial anyway; off by default on PostgreSQL, whose writers run side by side.
    pub fn group_commit(mut self, on: bool) -> Self {
        self.group_commit = Some(on);
        self
    }

    /// Where committed events' broadcasts go (default: nowhere).
    pub fn broadcaster(mut self, broadcaster: Arc<dyn Broadcaster>) -> Self {
        self.broadcaster = broadcaster;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Adds an observer of committed events.
    pub fn observer(mut self, observer: Arc<dyn CommitObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// The deepest cascade allowed: an event recorded by a listener of an event recorded by …
    /// `depth` levels below the command (default 8).
    pub fn max_cascade_depth(mut self, depth: u32) -> Self {
        self.max_depth = depth;
        self
    }

    /// The bus.
    pub fn build(self) -> EventBus {
        let group_commit = self
            .group_commit
            .unwrap_or(self.db.backend() == crate::Backend::Sqlite)
            .then(super::group_commit::GroupCommit::default);
        EventBus {
            inner: Arc::new(BusInner {
                db: self.db,
                writers: Mutex::new(Vec::new()),
                registry: self.registry,
                broadcaster: self.broadcaster,
                clock: self.clock,
                wake: Arc::default(),
                broadcast_wake: Arc::default(),
                observers: self.observers,
                max_depth: self.max_depth,
                group_commit,
            }),
        }
    }
}

impl EventBus {
    /// Starts building a bus over `db` with `registry`.
    pub fn builder(db: Database, registry: Arc<Registry>) -> EventBusBuilder {
        EventBusBuilder {
            db,
            registry,
            broadcaster: Arc::new(NullBroadcaster),
            clock: Arc::new(SystemClock),
            observers: Vec::new(),
            max_depth: 8,
            group_commit: None,
        }
    }

    /// A new unit of work. The transaction opens on first use of [`UnitOfWork::conn`]. Inside
    /// [`in_correlation`] (an HTTP request) it joins that correlation.
    pub fn begin(&self) -> UnitOfWork {
        let uow = UnitOfWork::new(self.clone());
        match REQUEST_CORRELATION.try_with(|c| *c) {
            Ok(correlation) => uow.with_correlation(correlation),
            Err(_) => uow,
        }
    }

    /// The database.
    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Notified whenever a commit enqueues jobs; idle workers of this process wait on it.
    pub(crate) fn wake(&self) -> &Arc<Wake> {
        &self.inner.wake
    }

    /// Notified whenever a commit of this process writes broadcasts; the broadcast tailer of
    /// this process waits on it.
    pub(crate) fn broadcast_wake(&self) -> &Arc<Wake> {
        &self.inner.broadcast_wake
    }

    /// Runs `command` (which begins, uses and commits its own unit of work) and runs it again,
    /// up to [`CONFLICT_RETRIES`] times, when it fails with a conflict with a concurrent
    /// transaction ([`is_conflict`]). Every command whose rule depends on what it read goes
    /// through here, so it is correct under concurrent writers on PostgreSQL. With group commit
    /// (SQLite), a command refused after reading what others staged in its group is answered
    /// only once that group has committed, and runs again if the group failed (see
    /// `bus/group_commit.rs`).
    ///
    /// `command` is a closure returning a future (`|| async move { … }`, capturing references),
    /// so the whole call stays `Send` for a multi-threaded runtime and a web framework.
    ///
    /// It is also where a command's failure is noticed: when the command finally fails for a
    /// reason that is not the caller's ([`fault_code`](super::fault_code): a storage failure, a
    /// timeout, a failed sync listener — not invalid input or a refused rule), or panics, one
    /// [`ActionFailed`](super::ActionFailed) is committed in a short unit of work of its own,
    /// with the command's name, the code, and the actor and correlation its units of work had.
    /// A panic is then resumed. Inside another command (a `retrying` within a `retrying`) only
    /// the outermost records.
    pub async fn retrying<T, E, F, Fut>(&self, command: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: std::error::Error + 'static,
    {
        if super::system::in_a_command() {
            return self.retry_conflicts(command).await;
        }
        let name = std::any::type_name::<F>();
        let run = std::panic::AssertUnwindSafe(self.retry_conflicts(command));
        let (outcome, scope) = super::system::in_command(futures_util::FutureExt::catch_unwind(run)).await;
        let code = match &outcome {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => super::system::fault_code(e),
            Err(_) => Some(super::system::ActionFailed::PANIC),
        };
        if let Some(code) = code {
            super::system::record_action_failed(
                self,
                super::system::command_name(name),
                code,
                scope.actor,
                scope.correlation,
            )
            .await;
        }
        match outcome {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    async fn retry_conflicts<T, E, F, Fut>(&self, mut command: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: std::error::Error + 'static,
    {
        let mut retries = 0;
        loop {
            match super::group_commit::settled(command()).await {
                // A refusal that rested on a group commit that failed: run it again.
                (Err(_), false) if retries < CONFLICT_RETRIES => {
                    retries += 1;
                    tracing::debug!(retries, "a group commit this command saw failed; running it again");
                }
                (Err(e), _) if retries < CONFLICT_RETRIES && is_conflict(&e) => {
                    retries += 1;
                    tracing::debug!(retries, "transaction conflict; running the command again");
                    tokio::time::sleep(conflict_backoff(retries)).await;
                }
                (other, _) => return other,
            }
        }
    }

    /// Registers this task as holding a write transaction of this bus, until the returned
    /// [`Writing`] drops.
    pub(super) fn enter_writer(&self) -> Result<Writing, UowError> {
        let task = Holder::current();
        let mut writers = self.inner.writers.lock().unwrap_or_else(|p| p.into_inner());
        if writers.contains(&task) {
            return Err(UowError::Nested);
        }
        writers.push(task);
        Ok(Writing {
            bus: self.clone(),
            task,
        })
    }

    fn leave_writer(&self, task: Holder) {
        let mut writers = self.inner.writers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = writers.iter().position(|t| *t == task) {
            writers.swap_remove(i);
        }
    }
}

/// A task's registration as holding a write transaction of its bus ([`UowError::Nested`]),
/// given back when dropped: also when the future holding it is dropped half-way (a caller gone
/// while its transaction opens), so the task is not refused every unit of work after.
pub(super) struct Writing {
    bus: EventBus,
    task: Holder,
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.bus.leave_writer(self.task);
    }
}

/// Who holds a write transaction: a Tokio task, or, outside any task (a `block_on`, such as
/// `#[tokio::main]`'s body), the thread that blocks on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Holder {
    Task(tokio::task::Id),
    Thread(std::thread::ThreadId),
}

impl Holder {
    fn current() -> Self {
        match tokio::task::try_id() {
            Some(task) => Holder::Task(task),
            None => Holder::Thread(std::thread::current().id()),
        }
    }
}

/// A short random pause before running a conflicting command again, growing with each retry, so
/// two commands that conflicted do not meet again at once.
pub(crate) fn conflict_backoff(retries: u32) -> Duration {
    let ceiling = 2u64.saturating_pow(retries.min(8)).min(100);
    Duration::from_micros(rand::random_range(0..ceiling * 1000))
}
