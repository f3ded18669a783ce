//! The audit log: [`LogDomainEvent`], the wildcard sync listener that writes each event's
//! `domain_event_log` row in the command's own transaction, and [`AuditLog`], the query API.

pub mod catch_up;
pub mod chain;
pub mod http;
pub mod replay;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{AnyConnection, AssertSqlSafe, FromRow};

use crate::bus::SharedEnvelope;
use crate::bus::UnitOfWork;
use crate::bus::{ListenerError, WildcardSyncListener};
use crate::clock::{from_db_text, to_db_text};
use crate::db::Database;
use crate::ids::{CorrelationId, EventId, UserId};

/// Writes the audit row of every event it is registered for, in the command's transaction (the
/// rows of one commit go out as one multi-row INSERT just before COMMIT), so an audit row exists
/// if and only if its change committed. Register it first, as a wildcard.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogDomainEvent;

#[async_trait]
impl WildcardSyncListener for LogDomainEvent {
    const NAME: &'static str = "LogDomainEvent";

    async fn handle(&self, event: &SharedEnvelope, uow: &mut UnitOfWork) -> Result<(), ListenerError> {
        uow.push_audit(event);
        Ok(())
    }
}

/// Reading the audit log failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database failed. Maps to 500; log the source.
    #[error("cannot read the audit log")]
    Database(#[from] sqlx::Error),
    /// A stored row is malformed (edited by hand?).
    #[error("audit row {event_id} is malformed: {reason}")]
    Corrupt {
        /// The row's event id.
        event_id: String,
        /// What is wrong.
        reason: String,
    },
}

/// One audit row, with the seeds' field names.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// The event occurrence.
    pub event_id: EventId,
    /// `{entity}.{past_verb}`.
    pub event_name: String,
    /// The aggregate type.
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// Who caused it (`None`: the system).
    pub actor_id: Option<UserId>,
    /// The event's audit metadata.
    pub metadata: Value,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When the row was written (the commit).
    pub created_at: DateTime<Utc>,
    /// The cascade it belongs to.
    pub correlation_id: CorrelationId,
    /// The event that caused it.
    pub causation_id: Option<EventId>,
    /// Its place among its aggregate's events: 1, 2, … in the order their transactions committed.
    pub aggregate_version: i64,
    /// Its tags (`course:{id}`, `user:{id}`), sorted.
    pub tags: Vec<String>,
}

/// Filters for [`AuditLog::query`]; every filter set must match. Results come in occurrence
/// order; one aggregate's (type and id given) in version order, which is commit order.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    aggregate: Option<(String, Option<String>)>,
    actor: Option<UserId>,
    event_name: Option<String>,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    correlation: Option<CorrelationId>,
    tag: Option<String>,
    after: Option<EventId>,
    limit: Option<u32>,
    latest: bool,
}

impl AuditQuery {
    /// Everything (in occurrence order).
    pub fn new() -> Self {
        Self::default()
    }

    /// Only rows of this aggregate type, and id if given.
    pub fn aggregate(mut self, aggregate_type: impl Into<String>, aggregate_id: Option<String>) -> Self {
        self.aggregate = Some((aggregate_type.into(), aggregate_id));
        self
    }

    /// Only rows caused by this user.
    pub fn actor(mut self, actor: UserId) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Only rows of this event name.
    pub fn event_name(mut self, name: impl Into<String>) -> Self {
        self.event_name = Some(name.into());
        self
    }

    /// Only rows that occurred at or after `from`.
    pub fn from(mut self, from: DateTime<Utc>) -> Self {
        self.from = Some(from);
        self
    }

    /// Only rows that occurred before `until`.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Only rows of this cascade.
    pub fn correlation(mut self, correlation: CorrelationId) -> Self {
        self.correlation = Some(correlation);
        self
    }

    /// Only rows after the row of event `after` in this order (the next page).
    pub fn after(mut self, after: EventId) -> Self {
        self.after = Some(after);
        self
    }

    /// Only events with this tag (e.g. `course:{id}`).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// At most `limit` rows (the earliest).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The last `limit` rows instead of the first (the most recent; still returned in order).
    /// Not with [`after`](Self::after), whose pages run forward.
    pub fn latest(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self.latest = true;
        self
    }
}

/// How many audited events of one name occurred in one minute ([`AuditLog::count_per_minute`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteCount {
    /// The event name.
    pub event_name: String,
    /// The minute's start.
    pub minute: DateTime<Utc>,
    /// How many.
    pub count: i64,
}

#[derive(FromRow)]
struct AuditRow {
    event_id: String,
    event_name: String,
    aggregate_type: String,
    aggregate_id: String,
    actor_id: Option<String>,
    metadata: String,
    occurred_at: String,
    created_at: String,
    correlation_id: String,
    causation_id: Option<String>,
    aggregate_version: i64,
}

impl AuditRow {
    fn into_entry(self) -> Result<AuditEntry, AuditError> {
        let corrupt = |reason: String| AuditError::Corrupt {
            event_id: self.event_id.clone(),
            reason,
        };
        Ok(AuditEntry {
            event_id: EventId::parse(&self.event_id).map_err(|e| corrupt(e.to_string()))?,
            actor_id: self
                .actor_id
                .as_deref()
                .map(UserId::parse)
                .transpose()
                .map_err(|e| corrupt(e.to_string()))?,
            metadata: serde_json::from_str(&self.metadata).map_err(|e| corrupt(e.to_string()))?,
            occurred_at: from_db_text(&self.occurred_at).map_err(|e| corrupt(e.to_string()))?,
            created_at: from_db_text(&self.created_at).map_err(|e| corrupt(e.to_string()))?,
            correlation_id: CorrelationId::parse(&self.correlation_id).map_err(|e| corrupt(e.to_string()))?,
            causation_id: self
                .causation_id
                .as_deref()
                .map(EventId::parse)
                .transpose()
                .map_err(|e| corrupt(e.to_string()))?,
            aggregate_version: self.aggregate_version,
            tags: Vec::new(),
            event_name: self.event_name,
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
        })
    }
}

/// Queries the audit log.
#[derive(Debug, Clone)]
pub struct AuditLog {
    db: Database,
}

impl AuditLog {
    /// The audit log of `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Rows matching `query`, in occurrence order.
    #[tracing::instrument(name = "query the audit log", skip(self))]
    pub async fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, AuditError> {
        let mut conn = self.db.pool().acquire().await?;
        query_with(&mut conn, query).await
    }

    /// How many rows matching `query`'s filters occurred per event name and minute (its cursor
    /// and limit do not apply), by name then minute. The events dashboard's "last hour" figures.
    #[tracing::instrument(name = "count the audit log per minute", skip(self))]
    pub async fn count_per_minute(&self, query: &AuditQuery) -> Result<Vec<MinuteCount>, AuditError> {
        let (clauses, binds) = filters(&AuditQuery {
            after: None,
            limit: None,
            latest: false,
            ..query.clone()
        });
        // `occurred_at` is stored as `YYYY-MM-DDTHH:MM:SS.ffffffZ`: its first 16 characters name
        // the minute, on either backend.
        let mut sql = String::from("SELECT event_name, SUBSTR(occurred_at, 1, 16), COUNT(*) FROM domain_event_log");
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" GROUP BY event_name, SUBSTR(occurred_at, 1, 16) ORDER BY 1, 2");
        // Only fixed fragments and placeholder numbers are interpolated; every value is bound.
        let mut q = sqlx::query_as::<_, (String, String, i64)>(AssertSqlSafe(sql));
        for value in binds {
            q = q.bind(value);
        }
        let mut conn = self.db.pool().acquire().await?;
        q.fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|(event_name, minute, count)| {
                let minute = from_db_text(&format!("{minute}:00Z")).map_err(|e| AuditError::Corrupt {
                    event_id: format!("(an event {event_name} at {minute})"),
                    reason: e.to_string(),
                })?;
                Ok(MinuteCount {
                    event_name,
                    minute,
                    count,
                })
            })
            .collect()
    }
}

/// The WHERE clauses of `query`'s filters (and cursor) with their values, numbered `$1`, ….
fn filters(query: &AuditQuery) -> (Vec<String>, Vec<String>) {
    let mut clauses = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    let mut push = |clause: &str, value: String, binds: &mut Vec<String>| {
        binds.push(value);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some((aggregate_type, aggregate_id)) = &query.aggregate {
        push("aggregate_type = ?", aggregate_type.clone(), &mut binds);
        if let Some(id) = aggregate_id {
            push("aggregate_id = ?", id.clone(), &mut binds);
        }
    }
    if let Some(actor) = query.actor {
        push("actor_id = ?", actor.to_string(), &mut binds);
    }
    if let Some(name) = &query.event_name {
        push("event_name = ?", name.clone(), &mut binds);
    }
    if let Some(from) = query.from {
        push("occurred_at >= ?", to_db_text(from), &mut binds);
    }
    if let Some(until) = query.until {
        push("occurred_at < ?", to_db_text(until), &mut binds);
    }
    if let Some(correlation) = query.correlation {
        push("correlation_id = ?", correlation.to_string(), &mut binds);
    }
    if let Some(tag) = &query.tag {
        push(
            "event_id IN (SELECT event_id FROM event_tags WHERE tag = ?)",
            tag.clone(),
            &mut binds,
        );
    }
    // One aggregate's events come in version order (commit order); a wider query in occurrence
    // order. The cursor follows the same order.
    let one_aggregate = matches!(&query.aggregate, Some((_, Some(_))));
    if let Some(after) = query.after {
        let clause = if one_aggregate {
            "aggregate_version > (SELECT aggregate_version FROM domain_event_log WHERE event_id = ?)"
        } else {
            "(occurred_at > (SELECT occurred_at FROM domain_event_log WHERE event_id = ?) \
             OR (occurred_at = (SELECT occurred_at FROM domain_event_log WHERE event_id = ?) AND event_id > ?))"
        };
        push(clause, after.to_string(), &mut binds);
    }
    (clauses, binds)
}

/// Rows matching `query` through any connection (e.g. inside a unit of work).
pub async fn query_with(conn: &mut AnyConnection, query: &AuditQuery) -> Result<Vec<AuditEntry>, AuditError> {
    let (clauses, binds) = filters(query);
    let one_aggregate = matches!(&query.aggregate, Some((_, Some(_))));
    let mut sql = String::from(
        "SELECT event_id, event_name, aggregate_type, aggregate_id, actor_id, metadata, occurred_at, \
         created_at, correlation_id, causation_id, aggregate_version FROM domain_event_log",
    );
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(match (one_aggregate, query.latest) {
        (true, false) => " ORDER BY aggregate_version",
        (true, true) => " ORDER BY aggregate_version DESC",
        (false, false) => " ORDER BY occurred_at, event_id",
        (false, true) => " ORDER BY occurred_at DESC, event_id DESC",
    });
    if let Some(limit) = query.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    // Only fixed fragments and placeholder numbers are interpolated; every value is bound.
    let mut q = sqlx::query_as::<_, AuditRow>(AssertSqlSafe(sql));
    for value in binds {
        q = q.bind(value);
    }
    let mut entries: Vec<AuditEntry> = q
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(AuditRow::into_entry)
        .collect::<Result<_, _>>()?;
    if query.latest {
        entries.reverse();
    }
    with_tags(conn, &mut entries).await?;
    // Personal fields are stored sealed: revealed, or `[erased]` for an erased person.
    let mut metadata: Vec<&mut Value> = entries.iter_mut().map(|e| &mut e.metadata).collect();
    crate::privacy::reveal(conn, &mut metadata).await?;
    Ok(entries)
}

/// Fills in the tags of `entries`, with one query per page.
async fn with_tags(conn: &mut AnyConnection, entries: &mut [AuditEntry]) -> Result<(), AuditError> {
    for chunk in entries.chunks_mut(200) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT event_id, tag FROM event_tags WHERE event_id IN ({}) ORDER BY tag",
            placeholders.join(", ")
        );
        let mut q = sqlx::query_as::<_, (String, String)>(AssertSqlSafe(sql));
        for entry in chunk.iter() {
            q = q.bind(entry.event_id.to_string());
        }
        let index: std::collections::HashMap<String, usize> = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| (e.event_id.to_string(), i))
            .collect();
        for (event_id, tag) in q.fetch_all(&mut *conn).await? {
            if let Some(&i) = index.get(&event_id) {
                chunk[i].tags.push(tag);
            }
        }
    }
    Ok(())
}
