//! The transactional outbox: the audit rows and job rows a commit writes in its own transaction,
//! as multi-row INSERTs (a statement is a round trip, so rows are grouped, not sent one by one).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, AssertSqlSafe};
use uuid::Uuid;

use super::audit_row as chain;
use super::broadcast_rows::{self as broadcast_log, BroadcastRow, RowValue};
use super::event::SharedEnvelope;
use super::uow::{EventBus, UowError};
use crate::clock::{to_db_text, to_micros};
use crate::db::{Backend, Database};
use crate::privacy;

/// The unique index that makes each aggregate's events a sequence: two transactions giving an
/// aggregate the same version conflict, and the later one runs again.
pub(crate) const AGGREGATE_VERSION_CONSTRAINT: &str = "domain_event_log_aggregate_version";

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
    /// How long after the commit the job becomes ready, in microseconds.
    pub(crate) delay_micros: i64,
    /// Its listener's priority within the queue (`jobs.priority`).
    pub(crate) priority: i64,
    /// With "without overlapping", the key derived from the event.
    pub(crate) overlap_key: Option<String>,
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
            let delay = target
                .handler
                .delay(&**event)
                .unwrap_or_else(|| target.options.default_delay());
            rows.push(JobRow {
                id: Uuid::now_v7().to_string(),
                queue: target.options.queue().to_owned(),
                event_id: event_id.clone(),
                event_name: event.name(),
                listener: target.listener,
                payload: payload.clone(),
                max_tries: i64::from(target.options.max_tries()),
                delay_micros: i64::try_from(delay.as_micros()).unwrap_or(i64::MAX),
                priority: target.options.job_priority().stored(),
                overlap_key: target
                    .options
                    .overlap_wait()
                    .and_then(|_| target.handler.overlap_key(&**event)),
            });
        }
    }
    Ok(rows)
}

/// Each dispatched event's tags as `(tag, event_id)` rows (duplicates of one event dropped).
pub(crate) fn tag_rows(events: &[SharedEnvelope]) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for event in events {
        let mut tags = event.tags();
        tags.sort();
        tags.dedup();
        let event_id = event.meta().event_id().to_string();
        rows.extend(tags.into_iter().map(|tag| (tag, event_id.clone())));
    }
    rows
}

/// `($first, …), ($k, …)` for `rows` rows of `cols` columns.
fn values_list_from(first: usize, rows: usize, cols: usize) -> String {
    let mut sql = String::with_capacity(rows * cols * 6);
    let mut n = first;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..cols {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&n.to_string());
            n += 1;
        }
        sql.push(')');
    }
    sql
}

/// A value to bind.
enum Arg {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
}

/// Statements to send, several per round trip: placeholders are numbered across the whole text.
/// On SQLite the statements are sent as one text separated by `;`. PostgreSQL's extended
/// protocol takes one statement per round trip, so there they become one statement: every
/// INSERT but the last a data-modifying `WITH` part (each runs exactly once), the last the main
/// statement. A commit's audit rows, jobs, broadcasts and tags thus cost one round trip on either
/// backend.
struct Batch {
    backend: Backend,
    parts: Vec<String>,
    args: Vec<Arg>,
    ready: Vec<(String, Vec<Arg>)>,
}

/// SQLite allows 32,766 bound parameters per statement text, PostgreSQL 65,535; stay well below.
const MAX_ARGS_PER_ROUND_TRIP: usize = 30_000;

impl Batch {
    fn new(backend: Backend) -> Self {
        Self {
            backend,
            parts: Vec::new(),
            args: Vec::new(),
            ready: Vec::new(),
        }
    }

    /// Adds a statement without parameters.
    fn statement(&mut self, sql: &str) {
        self.parts.push(sql.to_owned());
    }

    /// Adds `INSERT … VALUES` for `rows` rows of `cols` columns; `head` is the part before VALUES.
    fn insert(&mut self, head: &str, tail: &str, rows: usize, cols: usize, args: impl IntoIterator<Item = Arg>) {
        if self.args.len() + rows * cols > MAX_ARGS_PER_ROUND_TRIP {
            self.flush();
        }
        self.parts.push(format!(
            "{head} VALUES {}{tail}",
            values_list_from(self.args.len() + 1, rows, cols)
        ));
        self.args.extend(args);
    }

    fn flush(&mut self) {
        if self.parts.is_empty() {
            return;
        }
        let parts = std::mem::take(&mut self.parts);
        let sql = match self.backend {
            Backend::Sqlite => parts.join(";\n"),
            Backend::Postgres => {
                let (last, before) = parts.split_last().expect("not empty");
                if before.is_empty() {
                    last.clone()
                } else {
                    let with: Vec<String> = before
                        .iter()
                        .enumerate()
                        .map(|(i, part)| format!("w{i} AS ({part})"))
                        .collect();
                    format!("WITH {}\n{last}", with.join(",\n"))
                }
            }
        };
        self.ready.push((sql, std::mem::take(&mut self.args)));
    }

    async fn execute(mut self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        self.flush();
        for (sql, args) in self.ready {
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for arg in args {
                query = match arg {
                    Arg::Text(v) => query.bind(v),
                    Arg::MaybeText(v) => query.bind(v),
                    Arg::Int(v) => query.bind(v),
                };
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// `json` with the personal `fields` of `subject` sealed.
fn sealed(json: &str, fields: &[&str], subject: &str, keys: &privacy::Keys) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(mut value) => {
            privacy::seal(&mut value, fields, subject, keys);
            value.to_string()
        }
        Err(_) => json.to_owned(),
    }
}

const AUDIT_INSERT: &str = "INSERT INTO domain_event_log (id, event_id, event_name, aggregate_type, aggregate_id, \
                            actor_id, metadata, occurred_at, created_at, correlation_id, causation_id, aggregate_version, \
                            payload, schema_version, row_hash)";

/// Each audited event's aggregate version (one more than the aggregate's last, in the order the
/// events were recorded), and each aggregate's last stored row hash (the chain continues from
/// it). One read for all the aggregates of the commit.
async fn aggregate_versions(
    conn: &mut AnyConnection,
    audit: &[SharedEnvelope],
) -> Result<(Vec<i64>, HashMap<(String, String), String>), sqlx::Error> {
    let mut aggregates: Vec<(&str, String)> = Vec::new();
    for event in audit {
        let key = (event.aggregate_type(), event.aggregate_id());
        if !aggregates.contains(&key) {
            aggregates.push(key);
        }
    }
    let mut last: Vec<i64> = vec![0; aggregates.len()];
    let mut hashes = HashMap::new();
    for (chunk_no, chunk) in aggregates.chunks(ROWS_PER_STATEMENT).enumerate() {
        let conditions: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "(d.aggregate_type = ${} AND d.aggregate_id = ${})",
                    2 * i + 1,
                    2 * i + 2
                )
            })
            .collect();
        let sql = format!(
            "SELECT d.aggregate_type, d.aggregate_id, d.aggregate_version, d.row_hash FROM domain_event_log d \
             WHERE ({}) AND d.aggregate_version = (SELECT MAX(x.aggregate_version) FROM domain_event_log x \
             WHERE x.aggregate_type = d.aggregate_type AND x.aggregate_id = d.aggregate_id)",
            conditions.join(" OR ")
        );
        let mut query = sqlx::query_as::<_, (String, String, i64, Option<String>)>(AssertSqlSafe(sql));
        for (kind, id) in chunk {
            query = query.bind((*kind).to_owned()).bind(id.clone());
        }
        for (kind, id, version, hash) in query.fetch_all(&mut *conn).await? {
            if let Some(i) = chunk.iter().position(|(k, a)| *k == kind && *a == id) {
                last[chunk_no * ROWS_PER_STATEMENT + i] = version;
            }
            if let Some(hash) = hash {
                hashes.insert((kind, id), hash);
            }
        }
    }
    let versions = audit
        .iter()
        .map(|event| {
            let key = (event.aggregate_type(), event.aggregate_id());
            let i = aggregates.iter().position(|a| *a == key).unwrap_or(0);
            last[i] += 1;
            last[i]
        })
        .collect();
    Ok((versions, hashes))
}

const JOB_COLUMNS: &str = "id, queue, event_id, event_name, listener, payload, attempts, max_tries, available_at, \
                           created_at, priority, overlap_key";
const JOBS_INSERT: &str = "INSERT INTO jobs (id, queue, event_id, event_name, listener, payload, attempts, max_tries, \
                           available_at, created_at, priority, overlap_key)";
/// A job already waiting for the same (event or key, listener) is kept: enqueueing is idempotent.
const JOBS_CONFLICT: &str = " ON CONFLICT DO NOTHING";

/// What one commit writes to the outbox.
pub(crate) struct Rows<'a> {
    /// The audited events (audit rows).
    pub(crate) audit: &'a [SharedEnvelope],
    /// One per (event, queued listener), plus jobs enqueued directly.
    pub(crate) jobs: &'a [JobRow],
    /// One per (event, broadcast channel).
    pub(crate) broadcasts: &'a [BroadcastRow],
    /// `(tag, event_id)`.
    pub(crate) tags: &'a [(String, String)],
    /// A statement to send after the rows (a savepoint's release): on SQLite in the same round
    /// trip, on PostgreSQL on its own.
    pub(crate) then: Option<&'static str>,
}

/// Writes the audit rows, the job rows, the broadcast rows and the event tags in the caller's
/// transaction:
/// multi-row INSERTs, and on SQLite all of them in one round trip.
///
/// The aggregate versions are read in the transaction on SQLite (one writer: nothing can come
/// between). On PostgreSQL they are read **outside** it, on a pooled connection: read inside a
/// SERIALIZABLE transaction, `MAX(aggregate_version)` takes predicate locks on the index pages
/// that every concurrent commit inserts into (new aggregates' ids are time-ordered), so
/// concurrent commands on unrelated aggregates failed each other as serialization conflicts,
/// often enough to exhaust their retries at a few hundred commits per second. The unique index
/// on (aggregate, version) still makes each aggregate's versions a sequence: a version taken by
/// a transaction that commits first makes the later one's INSERT a conflict, run again.
pub(crate) async fn write(
    conn: &mut AnyConnection,
    db: &Database,
    rows: Rows<'_>,
    now: DateTime<Utc>,
    db_offset: chrono::Duration,
) -> Result<(), sqlx::Error> {
    let Rows {
        audit,
        jobs,
        broadcasts,
        tags,
        then,
    } = rows;
    let backend = db.backend();
    let mut batch = Batch::new(backend);
    let created_at = to_db_text(now);
    let (versions, mut heads) = match (audit.is_empty(), backend) {
        (true, _) => (Vec::new(), HashMap::new()),
        (false, Backend::Sqlite) => aggregate_versions(conn, audit).await?,
        (false, Backend::Postgres) => aggregate_versions(&mut *db.bookkeeping().acquire().await?, audit).await?,
    };
    let payloads: HashMap<&str, &Arc<str>> = jobs.iter().map(|job| (job.event_id.as_str(), &job.payload)).collect();
    // The people whose personal data the audited events hold: their keys, made when missing.
    let mut subjects: Vec<String> = Vec::new();
    for (subject, _) in audit.iter().filter_map(|e| e.personal()) {
        if !subjects.contains(&subject) {
            subjects.push(subject);
        }
    }
    let keys = privacy::Keys::for_writing(conn, backend, &subjects, &created_at).await?;
    for (chunk, versions) in audit
        .chunks(ROWS_PER_STATEMENT)
        .zip(versions.chunks(ROWS_PER_STATEMENT))
    {
        let mut args = Vec::with_capacity(chunk.len() * 15);
        for (event, version) in chunk.iter().zip(versions) {
            let meta = event.meta();
            let event_id = meta.event_id().to_string();
            let aggregate_id = event.aggregate_id();
            let actor = meta.actor_id().map(|a| a.to_string());
            let mut metadata = event.metadata().to_string();
            // The envelope was serialized for the event's jobs already, most often.
            let mut payload = payloads
                .get(event_id.as_str())
                .map(|p| p.to_string())
                .or_else(|| event.to_json().ok());
            if let Some((subject, fields)) = event.personal() {
                metadata = sealed(&metadata, fields, &subject, &keys);
                payload = payload.map(|p| sealed(&p, fields, &subject, &keys));
            }
            let occurred_at = to_db_text(meta.occurred_at());
            let correlation = meta.correlation_id().to_string();
            let causation = meta.causation_id().map(|c| c.to_string());
            let key = (event.aggregate_type().to_owned(), aggregate_id.clone());
            // The aggregate's chain: this row hashes over its content and the previous row's hash.
            let hash = chain::row_hash(
                heads.get(&key).map(String::as_str),
                &chain::RowContent {
                    event_id: &event_id,
                    event_name: event.name(),
                    aggregate_type: event.aggregate_type(),
                    aggregate_id: &aggregate_id,
                    aggregate_version: *version,
                    actor_id: actor.as_deref(),
                    metadata: &metadata,
                    payload: payload.as_deref(),
                    schema_version: i64::from(event.schema_version()),
                    occurred_at: &occurred_at,
                    created_at: &created_at,
                    correlation_id: &correlation,
                    causation_id: causation.as_deref(),
                },
            );
            heads.insert(key, hash.clone());
            args.extend([
                Arg::Text(Uuid::now_v7().to_string()),
                Arg::Text(event_id),
                Arg::Text(event.name().to_owned()),
                Arg::Text(event.aggregate_type().to_owned()),
                Arg::Text(aggregate_id),
                Arg::MaybeText(actor),
                Arg::Text(metadata),
                Arg::Text(occurred_at),
                Arg::Text(created_at.clone()),
                Arg::Text(correlation),
                Arg::MaybeText(causation),
                Arg::Int(*version),
                Arg::MaybeText(payload),
                Arg::Int(i64::from(event.schema_version())),
                Arg::Text(hash),
            ]);
        }
        batch.insert(AUDIT_INSERT, "", chunk.len(), 15, args);
    }
    let now_micros = to_micros(now);
    // A job is ready from its commit on (plus its listener's delay). On PostgreSQL "now" is the
    // database's clock (plus the kernel clock's offset, as for claims), so a node whose clock
    // runs ahead does not delay its own jobs; the VALUES list then carries the offset (and the
    // delay) in `available_at`.
    let (jobs_head, jobs_tail, ready_at) = match backend {
        Backend::Sqlite => (JOBS_INSERT.to_owned(), JOBS_CONFLICT.to_owned(), now_micros),
        Backend::Postgres => (
            format!(
                "INSERT INTO jobs ({JOB_COLUMNS}) SELECT id, queue, event_id, event_name, listener, payload, attempts, \
                 max_tries, {}, created_at, priority, overlap_key FROM (",
                Backend::Postgres.queue_time_plus("v.available_at")
            ),
            format!(") AS v ({JOB_COLUMNS}){JOBS_CONFLICT}"),
            db_offset.num_microseconds().unwrap_or(0),
        ),
    };
    for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
        let args = chunk.iter().flat_map(|job| {
            [
                Arg::Text(job.id.clone()),
                Arg::Text(job.queue.clone()),
                Arg::Text(job.event_id.clone()),
                Arg::Text(job.event_name.to_owned()),
                Arg::Text(job.listener.to_owned()),
                Arg::Text(job.payload.to_string()),
                Arg::Int(0),
                Arg::Int(job.max_tries),
                Arg::Int(ready_at.saturating_add(job.delay_micros)),
                Arg::Int(now_micros),
                Arg::Int(job.priority),
                Arg::MaybeText(job.overlap_key.clone()),
            ]
        });
        batch.insert(&jobs_head, &jobs_tail, chunk.len(), 12, args);
    }
    let (head, tail, cols) = broadcast_log::insert_sql(backend);
    for (n, chunk) in broadcasts.chunks(ROWS_PER_STATEMENT).enumerate() {
        let args = chunk.iter().enumerate().flat_map(|(i, row)| {
            broadcast_log::row_values(backend, row, n * ROWS_PER_STATEMENT + i + 1, now)
                .into_iter()
                .map(|value| match value {
                    RowValue::Text(v) => Arg::Text(v),
                    RowValue::Int(v) => Arg::Int(v),
                })
        });
        batch.insert(head, tail, chunk.len(), cols, args);
    }
    if let Some(advance) = broadcast_log::advance_sql(backend, broadcasts.len()) {
        batch.statement(&advance);
    }
    for chunk in tags.chunks(ROWS_PER_STATEMENT) {
        let args = chunk
            .iter()
            .flat_map(|(tag, event_id)| [Arg::Text(tag.clone()), Arg::Text(event_id.clone())]);
        batch.insert(
            "INSERT INTO event_tags (tag, event_id)",
            " ON CONFLICT DO NOTHING",
            chunk.len(),
            2,
            args,
        );
    }
    match (then, backend) {
        (Some(then), Backend::Sqlite) => {
            batch.statement(then);
            batch.execute(conn).await
        }
        (Some(then), Backend::Postgres) => {
            batch.execute(&mut *conn).await?;
            sqlx::raw_sql(then).execute(conn).await?;
            Ok(())
        }
        (None, _) => batch.execute(conn).await,
    }
}

#[cfg(test)]
mod tests {
    use super::values_list_from;

    #[test]
    fn a_values_list_numbers_placeholders_across_rows() {
        assert_eq!(values_list_from(1, 2, 3), "($1, $2, $3), ($4, $5, $6)");
    }

    #[test]
    fn a_sqlite_batch_numbers_placeholders_across_statements() {
        let mut batch = super::Batch::new(crate::db::Backend::Sqlite);
        batch.insert("INSERT INTO a (x)", "", 2, 1, [super::Arg::Int(1), super::Arg::Int(2)]);
        batch.insert("INSERT INTO b (y)", "", 1, 1, [super::Arg::Int(3)]);
        batch.flush();
        assert_eq!(batch.ready.len(), 1);
        assert_eq!(
            batch.ready[0].0,
            "INSERT INTO a (x) VALUES ($1), ($2);\nINSERT INTO b (y) VALUES ($3)"
        );
    }

    #[test]
    fn a_postgres_batch_is_one_statement_of_data_modifying_parts() {
        let mut batch = super::Batch::new(crate::db::Backend::Postgres);
        batch.insert("INSERT INTO a (x)", "", 1, 1, [super::Arg::Int(1)]);
        batch.insert(
            "INSERT INTO b (y)",
            " ON CONFLICT DO NOTHING",
            1,
            1,
            [super::Arg::Int(3)],
        );
        batch.insert("INSERT INTO c (z)", "", 1, 1, [super::Arg::Int(4)]);
        batch.flush();
        assert_eq!(batch.ready.len(), 1);
        assert_eq!(
            batch.ready[0].0,
            "WITH w0 AS (INSERT INTO a (x) VALUES ($1)),\nw1 AS (INSERT INTO b (y) VALUES ($2) ON CONFLICT DO NOTHING)\n\
             INSERT INTO c (z) VALUES ($3)"
        );
    }
}
