//! The durable queue over the `jobs` table: claiming with a lease, acknowledging, retrying with
//! backoff, burying in `failed_jobs`, and the operator's view (failed jobs, retry, forget, flush,
//! depth and age per queue, and its history sampled by running workers). The [`Worker`] drives it.
//!
//! The worker's bookkeeping statements (start, acknowledge, release, retry later, bury) run
//! again after a lost connection, with backoff, for up to [`RECONNECT_BUDGET`]: a database
//! restarting or a terminated backend costs a pause, not a job.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use uuid::Uuid;

use crate::clock::{to_db_text, to_micros};
use crate::db::is_connection_lost;
mod depth_history;
mod maintenance;
mod middleware;
mod options;
mod shutdown;
mod worker;

pub use depth_history::{DEPTH_HISTORY_RETENTION, DepthSample};
pub use maintenance::DEFAULT_BROADCAST_RETENTION;
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

/// A job that gave up, as `queue failed` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct FailedJob {
    /// Its id (for `queue retry <id>`).
    pub id: String,
    /// Its queue.
    pub queue: String,
    /// The event it was for.
    pub event_id: String,
    /// The event's name.
    pub event_name: String,
    /// The listener that failed.
    pub listener: String,
    /// The last error.
    pub exception: String,
    /// How many tries were made.
    pub attempts: i64,
    /// When it gave up.
    pub failed_at: String,
}

/// One queue's state, as `queue monitor` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Jobs waiting in it for a worker (ready, delayed for a retry, or running); not those of
    /// delayed listeners that are not due yet.
    pub depth: i64,
    /// Of those, ready to run now.
    pub ready: i64,
    /// Of those, running under a worker's lease.
    pub reserved: i64,
    /// Of those, waiting for a retry's backoff.
    pub delayed: i64,
    /// Jobs of delayed listeners not due yet (e.g. reminders), apart from `depth`.
    pub scheduled: i64,
    /// Jobs of this queue in `failed_jobs`.
    pub failed: i64,
    /// How long the oldest job counted in `depth` has been in the queue.
    pub oldest_age: Option<Duration>,
    /// How long the ready job that became ready first has been waiting for a worker.
    pub oldest_ready_age: Option<Duration>,
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

    /// Failed jobs, oldest failure first: at most `limit`, after the failed job `after` (the
    /// last id of the previous page) when given.
    ///
    /// # Errors
    /// [`QueueError::FailedJobNotFound`] when `after` names no failed job; storage failures.
    pub async fn failed_jobs(&self, after: Option<&str>, limit: usize) -> Result<Vec<FailedJob>, QueueError> {
        self.failed_jobs_tagged(None, after, limit).await
    }

    /// [`Queue::failed_jobs`] of events with tag `tag` only, when given.
    ///
    /// # Errors
    /// As [`Queue::failed_jobs`].
    pub async fn failed_jobs_tagged(
        &self,
        tag: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FailedJob>, QueueError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut clauses = Vec::new();
        let mut binds: Vec<String> = Vec::new();
        if let Some(after) = after {
            let cursor: Option<(String,)> = sqlx::query_as("SELECT failed_at FROM failed_jobs WHERE id = $1")
                .bind(after.to_owned())
                .fetch_optional(self.bus.db().pool())
                .await?;
            let Some((failed_at,)) = cursor else {
                return Err(QueueError::FailedJobNotFound(after.to_owned()));
            };
            clauses.push("(failed_at > $1 OR (failed_at = $1 AND id > $2))".to_owned());
            binds.extend([failed_at, after.to_owned()]);
        }
        if let Some(tag) = tag {
            binds.push(tag.to_owned());
            clauses.push(format!(
                "event_id IN (SELECT event_id FROM event_tags WHERE tag = ${})",
                binds.len()
            ));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        // Only fixed fragments and placeholder numbers are interpolated; every value is bound.
        let sql = format!(
            "SELECT id, queue, event_id, event_name, listener, exception, attempts, failed_at FROM failed_jobs{filter} \
             ORDER BY failed_at, id LIMIT ${}",
            binds.len() + 1
        );
        let mut query = sqlx::query_as::<_, FailedJob>(AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        Ok(query.bind(limit).fetch_all(self.bus.db().pool()).await?)
    }

    /// Puts one failed job back on its queue with a fresh set of tries.
    #[tracing::instrument(name = "retry a failed job", skip(self))]
    pub async fn retry(&self, id: &str) -> Result<(), QueueError> {
        let mut tx = self.bus.db().begin_write().await?;
        let row: Option<(String, String, String)> =
            sqlx::query_as("SELECT event_name, listener, queue FROM failed_jobs WHERE id = $1")
                .bind(id.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((event, listener, _queue)) = row else {
            return Err(QueueError::FailedJobNotFound(id.to_owned()));
        };
        let Some((_, options)) = self.bus.registry().handler(&event, &listener) else {
            return Err(QueueError::NoListener {
                id: id.to_owned(),
                event,
                listener,
            });
        };
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO jobs (id, queue, event_id, event_name, listener, payload, attempts, max_tries, available_at, created_at, \
             priority, overlap_key) SELECT $1, $2, event_id, event_name, listener, payload, 0, $3, {}, $6, $7, overlap_key \
             FROM failed_jobs WHERE id = $5",
            self.time_sql(4)
        )))
        .bind(Uuid::now_v7().to_string())
        .bind(options.queue().to_owned())
        .bind(i64::from(options.max_tries()))
        .bind(self.time_arg(Duration::ZERO))
        .bind(id.to_owned())
        .bind(to_micros(self.now()))
        .bind(options.job_priority().stored())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM failed_jobs WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        crate::db::notify_committed(self.bus.db(), [options.queue()], false).await;
        self.bus.wake().signal();
        Ok(())
    }

    /// Retries every failed job whose listener is still registered, with a fresh set of tries;
    /// returns how many. Two statements per (event, listener) pair in `failed_jobs`, whatever the
    /// number of rows: each pair's jobs move back in one transaction.
    pub async fn retry_all(&self) -> Result<u64, QueueError> {
        let pairs: Vec<(String, String)> = sqlx::query_as("SELECT DISTINCT event_name, listener FROM failed_jobs")
            .fetch_all(self.bus.db().pool())
            .await?;
        let mut retried = 0;
        for (event, listener) in pairs {
            let Some((_, options)) = self.bus.registry().handler(&event, &listener) else {
                tracing::warn!(%event, %listener, "failed jobs skipped: listener no longer registered");
                continue;
            };
            let now = to_micros(self.now());
            let mut tx = self.bus.db().begin_write().await?;
            // A failed job keeps the id it had as a job, so it can go back under that id; a job
            // already waiting for the same (event, listener) wins and the failed copy is dropped.
            let moved = sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO jobs (id, queue, event_id, event_name, listener, payload, attempts, max_tries, available_at, \
                 created_at, priority, overlap_key) SELECT id, $1, event_id, event_name, listener, payload, 0, $2, {}, $6, $7, \
                 overlap_key FROM failed_jobs WHERE event_name = $4 AND listener = $5 ON CONFLICT DO NOTHING",
                self.time_sql(3)
            )))
            .bind(options.queue().to_owned())
            .bind(i64::from(options.max_tries()))
            .bind(self.time_arg(Duration::ZERO))
            .bind(event.clone())
            .bind(listener.clone())
            .bind(now)
            .bind(options.job_priority().stored())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM failed_jobs WHERE event_name = $1 AND listener = $2")
                .bind(event)
                .bind(listener)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            crate::db::notify_committed(self.bus.db(), [options.queue()], false).await;
            retried += moved;
        }
        if retried > 0 {
            self.bus.wake().signal();
        }
        Ok(retried)
    }

    /// Deletes one failed job.
    pub async fn forget(&self, id: &str) -> Result<(), QueueError> {
        let deleted = sqlx::query("DELETE FROM failed_jobs WHERE id = $1")
            .bind(id.to_owned())
            .execute(self.bus.db().writer())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(QueueError::FailedJobNotFound(id.to_owned()));
        }
        Ok(())
    }

    /// Deletes every failed job; returns how many.
    pub async fn flush(&self) -> Result<u64, QueueError> {
        Ok(sqlx::query("DELETE FROM failed_jobs")
            .execute(self.bus.db().writer())
            .await?
            .rows_affected())
    }

    /// Depth and oldest-job age of every queue that has jobs or failed jobs, plus `known` queues.
    pub async fn stats(&self, known: &[String]) -> Result<Vec<QueueStats>, QueueError> {
        let now = self.now();
        let now_micros = to_micros(now);
        let queue_now = self.time_sql(1);
        type Row = (String, i64, i64, i64, i64, Option<i64>, Option<i64>);
        // A job not due yet that was never tried is a delayed listener's (scheduled); one that
        // was tried waits for its retry's backoff (delayed).
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT queue, COUNT(*), \
             SUM(CASE WHEN reserved_by IS NOT NULL AND available_at > {queue_now} THEN 1 ELSE 0 END), \
             SUM(CASE WHEN reserved_by IS NULL AND available_at > {queue_now} AND attempts > 0 THEN 1 ELSE 0 END), \
             SUM(CASE WHEN reserved_by IS NULL AND available_at > {queue_now} AND attempts = 0 THEN 1 ELSE 0 END), \
             MIN(CASE WHEN reserved_by IS NOT NULL OR available_at <= {queue_now} OR attempts > 0 THEN created_at END), \
             MIN(CASE WHEN available_at <= {queue_now} THEN available_at END) \
             FROM jobs GROUP BY queue"
        )))
        .bind(self.time_arg(Duration::ZERO))
        .fetch_all(self.bus.db().pool())
        .await?;
        let failed: Vec<(String, i64)> = sqlx::query_as("SELECT queue, COUNT(*) FROM failed_jobs GROUP BY queue")
            .fetch_all(self.bus.db().pool())
            .await?;
        let mut names: Vec<String> = known.to_vec();
        names.extend(rows.iter().map(|r| r.0.clone()));
        names.extend(failed.iter().map(|r| r.0.clone()));
        names.sort();
        names.dedup();
        Ok(names
            .into_iter()
            .map(|queue| {
                let row = rows.iter().find(|r| r.0 == queue);
                let (all, reserved, delayed, scheduled, oldest, ready_since) = row
                    .map(|r| (r.1, r.2, r.3, r.4, r.5, r.6))
                    .unwrap_or((0, 0, 0, 0, None, None));
                let age = |since: i64| Duration::from_micros(u64::try_from(now_micros - since).unwrap_or(0));
                let depth = all - scheduled;
                QueueStats {
                    depth,
                    ready: depth - reserved - delayed,
                    reserved,
                    delayed,
                    scheduled,
                    failed: failed.iter().find(|f| f.0 == queue).map_or(0, |f| f.1),
                    oldest_age: oldest.map(age),
                    oldest_ready_age: ready_since.map(age),
                    queue,
                }
            })
            .collect())
    }

    /// How many jobs are waiting in all queues (ready, delayed or running).
    pub async fn pending_count(&self) -> Result<i64, QueueError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
            .fetch_one(self.bus.db().pool())
            .await?;
        Ok(n)
    }
}
