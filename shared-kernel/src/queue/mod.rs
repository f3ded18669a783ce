//! The durable queue over the `jobs` table: claiming with a lease, acknowledging, retrying with
//! backoff, burying in `failed_jobs`, and the operator's view (failed jobs, retry, forget, flush,
//! depth and age per queue, and its history sampled by running workers). The [`Worker`] drives it.
//!
//! The worker's bookkeeping statements (start, acknowledge, release, retry later, bury) run
//! again after a lost connection, with backoff, for up to [`RECONNECT_BUDGET`]: a database
//! restarting or a terminated backend costs a pause, not a job.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow};

use crate::clock::{to_db_text, to_micros};
use crate::db::is_connection_lost;
mod depth_history;
mod maintenance;
mod middleware;
mod operator;
mod options;
mod shutdown;
mod worker;

pub use depth_history::{DEPTH_HISTORY_RETENTION, DepthSample};
pub use maintenance::DEFAULT_BROADCAST_RETENTION;
pub use operator::{FailedJob, QueueStats};
pub use options::{DEFAULT_SHARED_JOBS, WorkerOptions};
pub use shutdown::{Shutdown, ShutdownTrigger, shutdown_channel};
pub use worker::{Worker, WorkerProgress, WorkerReport};

use crate::bus::{EventBus, Priority, ledger};

/// A queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The database failed. Maps to 500; log the source.
    #[error("queue storage error")]
    Database(#[from] sqlx::Error),
    /// No failed job has this id. Maps to 404.
    #[error("no failed job with id `{0}`")]
    FailedJobNotFound(String),
    /// The failed job's listener is no longer registered, so it cannot be retried.
    #[error("failed job `{id}`: listener `{listener}` is not registered for `{event}`")]
    NoListener {
        /// The failed job.
        id: String,
        /// Its event.
        event: String,
        /// Its listener.
        listener: String,
    },
}

/// A job claimed by a worker.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct ClaimedJob {
    pub(crate) id: String,
    pub(crate) queue: String,
    pub(crate) event_id: String,
    pub(crate) event_name: String,
    pub(crate) listener: String,
    pub(crate) payload: String,
    pub(crate) attempts: i64,
    pub(crate) max_tries: i64,
    /// Its listener's priority within the queue, as stored.
    pub(crate) priority: i64,
    /// Failed tries so far.
    pub(crate) exceptions: i64,
    /// The key it must not share with a running job of its listener, if it has one.
    pub(crate) overlap_key: Option<String>,
}

/// How long a bookkeeping statement keeps being tried again after lost connections before its
/// error is returned (the jobs it concerns run again when their lease ends).
const RECONNECT_BUDGET: Duration = Duration::from_secs(30);

/// Runs `statement`, again after a lost connection (see [`RECONNECT_BUDGET`]). Only for
/// statements whose second run is harmless: each is conditional on the lease token.
async fn again_after_lost_connection<T, F>(
    what: &'static str,
    mut statement: impl FnMut() -> F,
) -> Result<T, QueueError>
where
    F: Future<Output = Result<T, sqlx::Error>>,
{
    let started = Instant::now();
    let mut failures = 0;
    loop {
        match statement().await {
            Ok(value) => return Ok(value),
            Err(e) if is_connection_lost(&e) && started.elapsed() < RECONNECT_BUDGET => {
                failures += 1;
                let delay = crate::db::reconnect_backoff(failures);
                tracing::warn!(error = %e, statement = what, retry_in = ?delay, "the database connection was lost; trying again");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Queue operations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Queue {
    bus: EventBus,
}

impl Queue {
    /// The queue of `bus`'s database.
    pub fn new(bus: EventBus) -> Self {
        Self { bus }
    }

    fn now(&self) -> DateTime<Utc> {
        self.bus.clock().now()
    }

    fn backend(&self) -> crate::Backend {
        self.bus.db().backend()
    }

    /// The queue's time `after` from now, as the value bound for [`Backend::queue_time`]
    /// (`crate::Backend`): on SQLite the kernel clock's time itself; on PostgreSQL the offset
    /// from the database's clock (the clock's [`database_offset`](crate::Clock::database_offset)
    /// plus `after`), so that nodes' clocks decide no lease and no readiness.
    fn time_arg(&self, after: Duration) -> i64 {
        let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
        match self.backend() {
            crate::Backend::Sqlite => to_micros(self.now() + after),
            crate::Backend::Postgres => {
                let offset = self.bus.clock().database_offset().num_microseconds().unwrap_or(0);
                offset.saturating_add(after.num_microseconds().unwrap_or(i64::MAX))
            }
        }
    }

    /// [`Backend::queue_time`](crate::Backend) for this queue's database, from parameter `$n`.
    fn time_sql(&self, n: usize) -> String {
        self.backend().queue_time(n)
    }

    /// The claim statement for `queues` in priority order (built once per worker). Each
    /// (queue, listener priority) pair's candidates come from their own range of the claim index
    /// (`queue, priority, available_at, id`), in index order (no sort over the whole table), and
    /// the union is cut to the batch size by queue, then priority, then readiness.
    pub(crate) fn claim_sql(&self, queues: &[String]) -> String {
        let skip_locked = self.backend().skip_locked();
        let (now, lease_end) = (self.time_sql(3), self.time_sql(2));
        let levels = Priority::LEVELS;
        let candidates: Vec<String> = (0..queues.len())
            .flat_map(|i| levels.iter().enumerate().map(move |(j, level)| (i, j, level.stored())))
            .map(|(i, j, level)| {
                let rank = i * levels.len() + j;
                format!(
                    "SELECT id, {rank} AS claim_rank, available_at FROM (SELECT id, available_at FROM jobs \
                     WHERE queue = ${} AND priority = {level} AND available_at <= {now} \
                     ORDER BY available_at, id LIMIT $4{skip_locked}) AS q{rank}",
                    5 + i
                )
            })
            .collect();
        format!(
            "UPDATE jobs SET reserved_by = $1, reserved_until = {lease_end}, available_at = {lease_end} \
             WHERE id IN (SELECT id FROM ({}) AS candidates ORDER BY claim_rank, available_at, id LIMIT $4) \
             RETURNING id, queue, event_id, event_name, listener, payload, attempts, max_tries, priority, \
             exceptions, overlap_key",
            candidates.join(" UNION ALL ")
        )
    }

    /// Claims up to `limit` ready jobs of `queues` under `token` for `lease`. A claim counts no
    /// try: [`Queue::start`] does, for the job it is about to run.
    #[tracing::instrument(name = "claim jobs", skip(self, sql, queues), level = "debug")]
    pub(crate) async fn claim(
        &self,
        sql: &str,
        queues: &[String],
        limit: usize,
        lease: Duration,
        token: &str,
    ) -> Result<Vec<ClaimedJob>, QueueError> {
        let mut query = sqlx::query_as::<_, ClaimedJob>(AssertSqlSafe(sql.to_owned()))
            .bind(token.to_owned())
            .bind(self.time_arg(lease))
            .bind(self.time_arg(Duration::ZERO))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        for queue in queues {
            query = query.bind(queue.clone());
        }
        let mut jobs = query.fetch_all(self.bus.db().bookkeeping()).await?;
        let rank = |q: &str| queues.iter().position(|x| x == q).unwrap_or(usize::MAX);
        jobs.sort_by(|a, b| {
            (rank(&a.queue), std::cmp::Reverse(a.priority), &a.id).cmp(&(
                rank(&b.queue),
                std::cmp::Reverse(b.priority),
                &b.id,
            ))
        });
        Ok(jobs)
    }

    /// Starts a claimed job: counts its try and renews its lease, if `token` still holds it.
    /// Returns the tries counted so far including this one, or `None` when the lease was lost
    /// (another worker took the job, or finished it). After a lost connection it runs again: if
    /// the first run committed and only its answer was lost, one try too many is counted.
    pub(crate) async fn start(&self, job_id: &str, token: &str, lease: Duration) -> Result<Option<i64>, QueueError> {
        let lease_end = self.time_sql(1);
        let sql = &format!(
            "UPDATE jobs SET attempts = attempts + 1, reserved_until = {lease_end}, available_at = {lease_end} \
             WHERE id = $2 AND reserved_by = $3 RETURNING attempts"
        );
        let row: Option<(i64,)> = again_after_lost_connection("start a job", move || async move {
            sqlx::query_as(AssertSqlSafe(sql.clone()))
                .bind(self.time_arg(lease))
                .bind(job_id.to_owned())
                .bind(token.to_owned())
                .fetch_optional(self.bus.db().bookkeeping())
                .await
        })
        .await?;
        Ok(row.map(|r| r.0))
    }

    /// Starts several claimed jobs at once (jobs that will share a transaction): counts a try
    /// for each that `token` still holds and renews its lease, in one statement. Returns
    /// `(id, tries counted)` of those; the others' leases were lost. A worker that dies before
    /// the shared transaction commits has charged each of them a try, as for a job it was running.
    pub(crate) async fn start_many(
        &self,
        ids: &[String],
        token: &str,
        lease: Duration,
    ) -> Result<Vec<(String, i64)>, QueueError> {
        let mut started = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = &format!(
                "UPDATE jobs SET attempts = attempts + 1, reserved_until = {lease_end}, available_at = {lease_end} \
                 WHERE reserved_by = $2 AND id IN {ids} RETURNING id, attempts",
                lease_end = self.time_sql(1),
                ids = ledger::placeholders(3, chunk.len())
            );
            let rows: Vec<(String, i64)> = again_after_lost_connection("start jobs", move || async move {
                let mut query = sqlx::query_as(AssertSqlSafe(sql.clone()))
                    .bind(self.time_arg(lease))
                    .bind(token.to_owned());
                for id in chunk {
                    query = query.bind(id.clone());
                }
                query.fetch_all(self.bus.db().bookkeeping()).await
            })
            .await?;
            started.extend(rows);
        }
        Ok(started)
    }

    /// Renews the lease of every job `token` still holds (the heartbeat of a running batch);
    /// returns how many. On PostgreSQL a job whose row a running job's transaction has locked is
    /// skipped: the lock holds it.
    pub(crate) async fn renew(&self, token: &str, lease: Duration) -> Result<u64, QueueError> {
        let lease_end = self.time_sql(1);
        let sql = match self.backend() {
            crate::Backend::Sqlite => format!(
                "UPDATE jobs SET reserved_until = {lease_end}, available_at = {lease_end} WHERE reserved_by = $2"
            ),
            crate::Backend::Postgres => format!(
                "UPDATE jobs SET reserved_until = {lease_end}, available_at = {lease_end} WHERE id IN \
                 (SELECT id FROM jobs WHERE reserved_by = $2 FOR UPDATE SKIP LOCKED)"
            ),
        };
        Ok(sqlx::query(AssertSqlSafe(sql))
            .bind(self.time_arg(lease))
            .bind(token.to_owned())
            .execute(self.bus.db().bookkeeping())
            .await?
            .rows_affected())
    }

    /// Acknowledges finished jobs that wrote nothing to the database, recording their pairs in
    /// the delivery ledger, in one round trip.
    pub(crate) async fn ack(&self, token: &str, ids: &[String]) -> Result<(), QueueError> {
        for chunk in ids.chunks(500) {
            let sql = ledger::ack_many_sql(self.backend(), chunk.len());
            let sql = &sql;
            let at = to_micros(self.now());
            again_after_lost_connection("acknowledge jobs", move || async move {
                let mut query = sqlx::query(AssertSqlSafe(sql.clone())).bind(token.to_owned()).bind(at);
                for id in chunk {
                    query = query.bind(id.clone());
                }
                query.execute(self.bus.db().bookkeeping()).await
            })
            .await?;
        }
        Ok(())
    }

    /// Gives claimed jobs back (graceful shutdown): they are ready again at once. Unstarted jobs
    /// counted no try; with `uncount`, the jobs' last counted try (a run the shutdown
    /// interrupted, not a failure) is taken back.
    pub(crate) async fn release(&self, token: &str, ids: &[String], uncount: bool) -> Result<(), QueueError> {
        let attempts = if uncount {
            "attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
        } else {
            ""
        };
        for chunk in ids.chunks(500) {
            let sql = format!(
                "UPDATE jobs SET {attempts}reserved_by = NULL, reserved_until = NULL, \
                 available_at = {} WHERE reserved_by = $1 AND id IN {}",
                self.time_sql(2),
                ledger::placeholders(3, chunk.len())
            );
            let sql = &sql;
            again_after_lost_connection("release jobs", move || async move {
                let mut query = sqlx::query(AssertSqlSafe(sql.clone()))
                    .bind(token.to_owned())
                    .bind(self.time_arg(Duration::ZERO));
                for id in chunk {
                    query = query.bind(id.clone());
                }
                query.execute(self.bus.db().bookkeeping()).await
            })
            .await?;
        }
        Ok(())
    }

    /// Gives back every job `token` holds (a claim whose answer was lost), without counting a
    /// try.
    pub(crate) async fn release_token(&self, token: &str) -> Result<(), QueueError> {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE jobs SET reserved_by = NULL, reserved_until = NULL, available_at = {} WHERE reserved_by = $1",
            self.time_sql(2)
        )))
        .bind(token.to_owned())
        .bind(self.time_arg(Duration::ZERO))
        .execute(self.bus.db().bookkeeping())
        .await?;
        Ok(())
    }

    /// Schedules a failed try's retry after `delay`, keeping its error and counting an exception.
    pub(crate) async fn retry_later(
        &self,
        job: &ClaimedJob,
        token: &str,
        delay: Duration,
        error: &str,
    ) -> Result<(), QueueError> {
        let at = self.time_arg(delay);
        let sql = &format!(
            "UPDATE jobs SET reserved_by = NULL, reserved_until = NULL, available_at = {}, last_error = $2, \
             exceptions = exceptions + 1 WHERE id = $3 AND reserved_by = $4",
            self.time_sql(1)
        );
        again_after_lost_connection("schedule a retry", move || async move {
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(at)
                .bind(error.to_owned())
                .bind(job.id.clone())
                .bind(token.to_owned())
                .execute(self.bus.db().bookkeeping())
                .await
        })
        .await?;
        Ok(())
    }

    /// Moves a job that gave up into `failed_jobs`. Returns false if the lease was lost meanwhile
    /// (another worker owns the job now, or a first run committed and only its answer was lost).
    /// A job it buried leaves one `ActionFailed` (committed after the burial; see
    /// [`crate::ActionFailed`]).
    pub(crate) async fn bury(&self, job: &ClaimedJob, token: &str, error: &str) -> Result<bool, QueueError> {
        let buried = again_after_lost_connection("bury a job", move || self.bury_once(job, token, error)).await?;
        if buried {
            crate::bus::system::record_job_buried(&self.bus, &job.listener, &job.event_name, &job.payload).await;
        }
        Ok(buried)
    }

    async fn bury_once(&self, job: &ClaimedJob, token: &str, error: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.bus.db().begin_write().await?;
        let moved = sqlx::query(
            "INSERT INTO failed_jobs (id, queue, event_id, event_name, listener, payload, exception, attempts, failed_at, \
             overlap_key) SELECT id, queue, event_id, event_name, listener, payload, $1, attempts, $2, overlap_key FROM jobs \
             WHERE id = $3 AND reserved_by = $4",
        )
        .bind(error.to_owned())
        .bind(to_db_text(self.now()))
        .bind(job.id.clone())
        .bind(token.to_owned())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM jobs WHERE id = $1 AND reserved_by = $2")
            .bind(job.id.clone())
            .bind(token.to_owned())
            .execute(&mut *tx)
            .await?;
        if moved == 1 {
            // A replay may have recorded the pair when it enqueued the job: it was not delivered.
            sqlx::query(ledger::FORGET_PAIR)
                .bind(job.event_id.clone())
                .bind(job.listener.clone())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(moved == 1)
    }
}
