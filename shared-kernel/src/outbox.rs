//! The transactional outbox: the audit rows and job rows a commit writes in its own transaction,
//! as multi-row INSERTs (a statement is a round trip, so rows are grouped, not sent one by one).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use crate::clock::{to_db_text, to_micros};
use crate::event::SharedEnvelope;
use crate::uow::{EventBus, UowError};

/// At most this many rows per INSERT, far below every backend's bind-parameter limit.
const ROWS_PER_STATEMENT: usize = 200;

/// One job to enqueue.
#[derive(Debug, Clone)]
pub(crate) struct JobRow {
    pub(crate) id: String,
    pub(crate) queue: String,
    pub(crate) event_id: String,
    pub(crate) event_name: &'static str,
    pub(crate) listener: &'static str,
    pub(crate) payload: Arc<str>,
    pub(crate) max_tries: i64,
}

/// The jobs the dispatched events create: one per (event, queued listener that wants it).
pub(crate) fn job_rows(
    bus: &EventBus,
    events: &[SharedEnvelope],
    _now: DateTime<Utc>,
) -> Result<Vec<JobRow>, UowError> {
    let mut rows = Vec::new();
    for event in events {
        let targets = bus.registry().queued_for(&**event);
        if targets.is_empty() {
            continue;
        }
        let payload: Arc<str> = event
            .to_json()
            .map_err(|source| UowError::Serialize {
                event: event.name(),
                source,
            })?
            .into();
        let event_id = event.meta().event_id().to_string();
        for target in targets {
            rows.push(JobRow {
                id: Uuid::now_v7().to_string(),
                queue: target.options.queue().to_owned(),
                event_id: event_id.clone(),
                event_name: event.name(),
                listener: target.listener,
                payload: payload.clone(),
                max_tries: i64::from(target.options.max_tries()),
            });
        }
    }
    Ok(rows)
}

/// `($1, $2, …), ($k, …)` for `rows` rows of `cols` columns.
pub(crate) fn values_list(rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 5);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql
}

/// Writes the audit rows and the job rows in the caller's transaction.
pub(crate) async fn write(
    conn: &mut AnyConnection,
    audit: &[SharedEnvelope],
    jobs: &[JobRow],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let created_at = to_db_text(now);
    for chunk in audit.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO domain_event_log (id, event_id, event_name, aggregate_type, aggregate_id, actor_id, \
             metadata, occurred_at, created_at, correlation_id, causation_id) VALUES {}",
            values_list(chunk.len(), 11)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for event in chunk {
            let meta = event.meta();
            query = query
                .bind(Uuid::now_v7().to_string())
                .bind(meta.event_id().to_string())
                .bind(event.name())
                .bind(event.aggregate_type())
                .bind(event.aggregate_id())
                .bind(meta.actor_id().map(|a| a.to_string()))
                .bind(event.metadata().to_string())
                .bind(to_db_text(meta.occurred_at()))
                .bind(created_at.clone())
                .bind(meta.correlation_id().to_string())
                .bind(meta.causation_id().map(|c| c.to_string()));
        }
        query.execute(&mut *conn).await?;
    }
    let now_micros = to_micros(now);
    for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO jobs (id, queue, event_id, event_name, listener, payload, attempts, max_tries, \
             available_at, created_at) VALUES {}",
            values_list(chunk.len(), 10)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for job in chunk {
            query = query
                .bind(job.id.clone())
                .bind(job.queue.clone())
                .bind(job.event_id.clone())
                .bind(job.event_name)
                .bind(job.listener)
                .bind(job.payload.to_string())
                .bind(0_i64)
                .bind(job.max_tries)
                .bind(now_micros)
                .bind(now_micros);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::values_list;

    #[test]
    fn a_values_list_numbers_placeholders_across_rows() {
        assert_eq!(values_list(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
