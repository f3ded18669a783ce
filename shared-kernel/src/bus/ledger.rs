//! The delivery ledger (`job_deliveries`): which (event, queued listener) pairs the queue has
//! delivered or a replay has taken charge of. Workers record a pair in the statement (or
//! transaction) that acknowledges its job; a replay enqueues only the pairs it manages to insert,
//! so the ledger's primary key — checked against committed rows, whatever a statement's snapshot
//! — is the one arbiter between a replay and live traffic or a second replay.

use sqlx::{AnyConnection, AssertSqlSafe};

use crate::db::Backend;

/// `(first, first + 1, …)`: `n` numbered placeholders.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    let list: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!("({})", list.join(", "))
}

/// Acknowledges one job inside the transaction that carries its effects, recording its pair:
/// `$1` job id, `$2` lease token, `$3` time (µs). Returns one row when the lease was still held.
pub(crate) fn ack_one_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "INSERT INTO job_deliveries (event_id, listener, recorded_at) \
             SELECT event_id, listener, $3 FROM jobs WHERE id = $1 AND reserved_by = $2 ON CONFLICT DO NOTHING;\n\
             DELETE FROM jobs WHERE id = $1 AND reserved_by = $2 RETURNING id"
        }
        Backend::Postgres => {
            "WITH gone AS (DELETE FROM jobs WHERE id = $1 AND reserved_by = $2 RETURNING event_id, listener), \
             recorded AS (INSERT INTO job_deliveries (event_id, listener, recorded_at) \
             SELECT event_id, listener, $3 FROM gone ON CONFLICT DO NOTHING) \
             SELECT event_id FROM gone"
        }
    }
}

/// Acknowledges `n` finished jobs that wrote nothing, recording their pairs, in one round trip:
/// `$1` lease token, `$2` time (µs), `$3…` job ids. On SQLite the two statements are not one
/// transaction: a pair recorded whose job's delete was lost runs again at its lease end, as any
/// unacknowledged job does (its listener had run; the ledger says so rightly).
pub(crate) fn ack_many_sql(backend: Backend, n: usize) -> String {
    let ids = placeholders(3, n);
    match backend {
        Backend::Sqlite => format!(
            "INSERT INTO job_deliveries (event_id, listener, recorded_at) \
             SELECT event_id, listener, $2 FROM jobs WHERE reserved_by = $1 AND id IN {ids} ON CONFLICT DO NOTHING;\n\
             DELETE FROM jobs WHERE reserved_by = $1 AND id IN {ids}"
        ),
        Backend::Postgres => format!(
            "WITH gone AS (DELETE FROM jobs WHERE reserved_by = $1 AND id IN {ids} RETURNING event_id, listener) \
             INSERT INTO job_deliveries (event_id, listener, recorded_at) \
             SELECT event_id, listener, $2 FROM gone ON CONFLICT DO NOTHING"
        ),
    }
}

/// Removes a buried job's pair (`$1` event id, `$2` listener): it was not delivered, and
/// `queue retry` or a later replay may bring it back.
pub(crate) const FORGET_PAIR: &str = "DELETE FROM job_deliveries WHERE event_id = $1 AND listener = $2";

/// What the ledger and the queue already hold of `listener`'s pairs for `event_ids`.
#[derive(Debug, Default)]
pub(crate) struct Held {
    /// Pairs recorded in the ledger (delivered, or taken by an earlier replay).
    pub(crate) delivered: Vec<String>,
    /// Pairs whose job is waiting or running.
    pub(crate) waiting: Vec<String>,
    /// Pairs whose job gave up and lies in `failed_jobs`.
    pub(crate) failed: Vec<String>,
}

/// Reads which of `event_ids` `listener` already has delivered, waiting or failed (one round
/// trip).
pub(crate) async fn held(conn: &mut AnyConnection, listener: &str, event_ids: &[String]) -> Result<Held, sqlx::Error> {
    let mut held = Held::default();
    if event_ids.is_empty() {
        return Ok(held);
    }
    let ids = placeholders(2, event_ids.len());
    let sql = format!(
        "SELECT 'd', event_id FROM job_deliveries WHERE listener = $1 AND event_id IN {ids} \
         UNION ALL SELECT 'w', event_id FROM jobs WHERE listener = $1 AND event_id IN {ids} \
         UNION ALL SELECT 'f', event_id FROM failed_jobs WHERE listener = $1 AND event_id IN {ids}"
    );
    let mut query = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql)).bind(listener.to_owned());
    for id in event_ids {
        query = query.bind(id.clone());
    }
    for (kind, event_id) in query.fetch_all(&mut *conn).await? {
        match kind.as_str() {
            "d" => held.delivered.push(event_id),
            "w" => held.waiting.push(event_id),
            _ => held.failed.push(event_id),
        }
    }
    Ok(held)
}

/// Records `listener`'s pairs for `event_ids` as taken by a replay; returns the event ids it
/// recorded (the others were recorded already: delivered, or taken by a concurrent replay).
pub(crate) async fn take(
    conn: &mut AnyConnection,
    listener: &str,
    event_ids: &[String],
    at_micros: i64,
) -> Result<Vec<String>, sqlx::Error> {
    if event_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<String> = (0..event_ids.len()).map(|i| format!("(${}, $1, $2)", i + 3)).collect();
    let sql = format!(
        "INSERT INTO job_deliveries (event_id, listener, recorded_at) VALUES {} \
         ON CONFLICT DO NOTHING RETURNING event_id",
        rows.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String,)>(AssertSqlSafe(sql))
        .bind(listener.to_owned())
        .bind(at_micros);
    for id in event_ids {
        query = query.bind(id.clone());
    }
    Ok(query.fetch_all(&mut *conn).await?.into_iter().map(|r| r.0).collect())
}
