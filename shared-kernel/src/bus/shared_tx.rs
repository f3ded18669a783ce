//! Several jobs in one transaction, each in a savepoint of its own.
//!
//! A worker runs the claimed jobs of listeners that declare
//! [`SHARES_TRANSACTION`](crate::QueuedListener::SHARES_TRANSACTION) in one write transaction:
//! each job's unit of work is lent the transaction, opens its savepoint and acknowledges the job
//! in it as its first statement (on SQLite in the same round trip), writes, stages its outbox and
//! releases the savepoint. A job that fails rolls back to its savepoint: its writes and its
//! acknowledgement are gone, the others' stay. One commit then makes every kept job's writes,
//! events and acknowledgement durable together; only after it are their broadcasts published,
//! workers woken and observers told. Jobs that wrote nothing are acknowledged in one statement
//! inside the same transaction, just before the commit.
//!
//! Nothing is weakened: a job's effect commits with its acknowledgement, a failure rolls back
//! only its own job, and a commit that fails leaves no job acknowledged (they run again).

use sqlx::{Any, AssertSqlSafe, Transaction};

use super::event_bus::Writing;
use super::job::{JobContext, JobIdentity};
use super::uow::{EventBus, Staged, UowError};
use crate::clock::to_micros;

/// Opens a job's savepoint in a shared transaction.
pub(crate) const OPEN_SAVEPOINT: &str = "SAVEPOINT enteraksi_job";
/// Keeps a job's work in the shared transaction.
pub(crate) const RELEASE_SAVEPOINT: &str = "RELEASE SAVEPOINT enteraksi_job";
/// Undoes a job's work (and its acknowledgement) in the shared transaction.
const ROLLBACK_SAVEPOINT: &str = "ROLLBACK TO SAVEPOINT enteraksi_job; RELEASE SAVEPOINT enteraksi_job";

/// A write transaction shared by several jobs held under one lease token. See the module docs.
pub(crate) struct SharedTransaction {
    bus: EventBus,
    token: String,
    /// `None` once broken: a savepoint could not be rolled back, or a job's unit of work did not
    /// give the transaction back. A broken shared transaction can only be dropped.
    tx: Option<Transaction<'static, Any>>,
    writer: Option<Writing>,
    /// What each kept job's unit of work publishes after the commit.
    staged: Vec<Staged>,
    /// Jobs that succeeded writing nothing: acknowledged just before the commit.
    quiet: Vec<String>,
}

impl std::fmt::Debug for SharedTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTransaction")
            .field("usable", &self.tx.is_some())
            .field("kept", &(self.staged.len() + self.quiet.len()))
            .finish_non_exhaustive()
    }
}

impl SharedTransaction {
    /// Opens the write transaction for jobs held under `token`. The task holds the bus's write
    /// transaction meanwhile, so a listener that begins a unit of work of its own gets
    /// [`UowError::Nested`] at once rather than waiting for this one.
    pub(crate) async fn begin(bus: &EventBus, token: &str) -> Result<Self, UowError> {
        // Given back as it drops, should the opening fail or be cancelled.
        let writer = bus.enter_writer()?;
        let tx = bus.db().begin_write().await?;
        Ok(Self {
            bus: bus.clone(),
            token: token.to_owned(),
            tx: Some(tx),
            writer: Some(writer),
            staged: Vec::new(),
            quiet: Vec::new(),
        })
    }

    /// Whether another job may run in it (it is not broken).
    pub(crate) fn usable(&self) -> bool {
        self.tx.is_some()
    }

    /// How many jobs it keeps so far.
    pub(crate) fn kept(&self) -> usize {
        self.staged.len() + self.quiet.len()
    }

    /// The context of the next job, lent the transaction. Give it back with
    /// [`keep`](Self::keep) or [`discard`](Self::discard). `None` when broken.
    pub(crate) fn context(&mut self, job: JobIdentity<'_>) -> Option<JobContext> {
        let tx = self.tx.take()?;
        let mut ctx = JobContext::for_job(&self.bus, job, &self.token);
        ctx.uow().lend(tx);
        Some(ctx)
    }

    /// Keeps a job that succeeded: stages its outbox in its savepoint and releases it. On an
    /// error the job's savepoint is rolled back (the job failed alone) unless that fails too,
    /// which breaks the shared transaction.
    pub(crate) async fn keep(&mut self, mut ctx: JobContext) -> Result<(), UowError> {
        let job_id = ctx.job_id().to_owned();
        let uow = ctx.uow();
        let (back, staged) = uow.stage_in_savepoint().await;
        self.take_back(back).await;
        match staged? {
            Some(staged) => self.staged.push(staged),
            None => self.quiet.push(job_id),
        }
        Ok(())
    }

    /// Undoes a job that failed: rolls back to its savepoint (breaking the shared transaction if
    /// that fails).
    pub(crate) async fn discard(&mut self, mut ctx: JobContext) {
        let back = ctx.uow().take_shared();
        self.take_back(back).await;
    }

    async fn take_back(&mut self, back: Option<(Transaction<'static, Any>, bool)>) {
        let Some((mut tx, savepoint_open)) = back else {
            return;
        };
        if savepoint_open && let Err(e) = sqlx::raw_sql(ROLLBACK_SAVEPOINT).execute(&mut *tx).await {
            tracing::warn!(error = %e, "rolling back a job's savepoint failed; the jobs sharing its transaction run again one by one");
            return;
        }
        self.tx = Some(tx);
    }

    /// Acknowledges the jobs that wrote nothing and commits; then publishes what every kept job
    /// staged. Returns how many jobs it kept.
    pub(crate) async fn commit(mut self) -> Result<usize, UowError> {
        let Some(mut tx) = self.tx.take() else {
            return Err(UowError::SharedTransactionBroken);
        };
        let backend = self.bus.db().backend();
        let at = to_micros(self.bus.clock().now());
        for chunk in self.quiet.chunks(500) {
            let mut query = sqlx::query(AssertSqlSafe(super::ledger::ack_many_sql(backend, chunk.len())))
                .bind(self.token.clone())
                .bind(at);
            for id in chunk {
                query = query.bind(id.clone());
            }
            query.execute(&mut *tx).await?;
        }
        let committed = tx.commit().await;
        self.writer = None;
        committed?;
        let kept = self.kept();
        Staged::publish_all(std::mem::take(&mut self.staged), &self.bus).await;
        Ok(kept)
    }
}

impl Drop for SharedTransaction {
    fn drop(&mut self) {
        // Uncommitted, the transaction rolls back as it drops: no job it held is acknowledged.
        self.tx = None;
        self.writer = None;
    }
}
