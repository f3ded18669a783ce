//! Queue depth over time, for the events dashboard's chart: [`Queue::stats`] (the figures of
//! `queue monitor` and `/metrics`) sampled once a minute per queue by every running worker's
//! maintenance task into `queue_depth_samples`. The first sample of a minute wins, so any number
//! of workers on any number of nodes write one row per queue and minute; a day's samples are kept.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};

use super::{Queue, QueueError, QueueStats};
use crate::clock::{from_micros, to_micros};

/// How long samples are kept.
pub const DEPTH_HISTORY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// One queue's figures in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthSample {
    /// The queue.
    pub queue: String,
    /// The start of the minute sampled.
    pub minute: DateTime<Utc>,
    /// Jobs waiting (ready, delayed for a retry, or running), as [`QueueStats::depth`].
    pub depth: i64,
    /// Of those, ready to run.
    pub ready: i64,
    /// Jobs of the queue in `failed_jobs`.
    pub failed: i64,
    /// The oldest waiting job's age, as [`QueueStats::oldest_age`].
    pub oldest_age: Option<Duration>,
}

/// The start of the minute `at` falls in.
fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(at)
}

impl Queue {
    /// Records the current figures of every queue (and of `known` queues, even empty) for the
    /// current minute of the bus's clock, unless this minute was sampled already; returns how
    /// many rows were written.
    ///
    /// # Errors
    /// Storage failures.
    #[tracing::instrument(name = "sample the queue depths", skip(self), level = "debug")]
    pub async fn sample_depths(&self, known: &[String]) -> Result<u64, QueueError> {
        let stats = self.stats(known).await?;
        self.record_samples(minute_of(self.now()), &stats).await
    }

    async fn record_samples(&self, minute: DateTime<Utc>, stats: &[QueueStats]) -> Result<u64, QueueError> {
        if stats.is_empty() {
            return Ok(0);
        }
        let values: Vec<String> = (0..stats.len())
            .map(|i| {
                let n = i * 6;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6
                )
            })
            .collect();
        // Only placeholder numbers are interpolated; every value is bound.
        let sql = format!(
            "INSERT INTO queue_depth_samples (queue, minute, depth, ready, failed, oldest_age_ms) VALUES {} \
             ON CONFLICT DO NOTHING",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in stats {
            query = query
                .bind(s.queue.clone())
                .bind(to_micros(minute))
                .bind(s.depth)
                .bind(s.ready)
                .bind(s.failed)
                .bind(s.oldest_age.map(|a| i64::try_from(a.as_millis()).unwrap_or(i64::MAX)));
        }
        Ok(query.execute(self.bus.db().writer()).await?.rows_affected())
    }

    /// The samples of minutes at or after `since`, oldest first (then by queue).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn depth_history(&self, since: DateTime<Utc>) -> Result<Vec<DepthSample>, QueueError> {
        type Row = (String, i64, i64, i64, i64, Option<i64>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT queue, minute, depth, ready, failed, oldest_age_ms FROM queue_depth_samples \
             WHERE minute >= $1 ORDER BY minute, queue",
        )
        .bind(to_micros(minute_of(since)))
        .fetch_all(self.bus.db().pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(queue, minute, depth, ready, failed, oldest)| DepthSample {
                queue,
                minute: from_micros(minute),
                depth,
                ready,
                failed,
                oldest_age: oldest.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
            })
            .collect())
    }

    /// Deletes samples of minutes before `before`; returns how many.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn prune_depth_history(&self, before: DateTime<Utc>) -> Result<u64, QueueError> {
        Ok(sqlx::query("DELETE FROM queue_depth_samples WHERE minute < $1")
            .bind(to_micros(before))
            .execute(self.bus.db().writer())
            .await?
            .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_falls_in_the_minute_that_starts_at_its_truncation() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T18:25:59.999Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(minute_of(at).to_rfc3339(), "2026-12-02T18:25:00+00:00");
    }
}
