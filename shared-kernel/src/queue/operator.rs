//! The operator's view of the queue: failed jobs (listed, retried, forgotten, flushed) and each
//! queue's depth and age, as `enteraksi queue failed|retry|forget|flush|monitor`, the admin
//! routes and the dashboard show them.

use std::time::Duration;

use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};
use uuid::Uuid;

use super::{Queue, QueueError};
use crate::clock::to_micros;

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

impl Queue {
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
