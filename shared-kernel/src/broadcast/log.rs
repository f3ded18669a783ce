//! The broadcast log (`broadcast_log`): what a commit writes for each broadcast of its events, how
//! positions are given (see the migration `1006_broadcast_log.sql`), and the reads of tailers and
//! resuming clients.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::AnyConnection;

use crate::clock::to_micros;
use crate::db::{Backend, Database};

/// How many rows one read of the log returns at most.
pub(crate) const PAGE: i64 = 500;

/// One broadcast as read back from the log: what a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedBroadcast {
    /// Its position in the log: monotonic, what SSE sends as `id:` and takes back as
    /// `Last-Event-ID`.
    pub position: i64,
    /// The channel address (`courses`, `course.{id}`, `private-user.{id}`).
    pub channel: String,
    /// The broadcast name (`enrollment.created`).
    pub event: String,
    /// The event occurrence it comes from.
    pub event_id: String,
    /// The event's public payload, as the JSON text it was stored as (sent as is, not
    /// serialized again for each subscriber).
    pub data: Arc<str>,
}

impl LoggedBroadcast {
    /// The payload as a JSON value.
    pub fn data_value(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

type Row = (i64, String, String, String, String);

fn logged((position, channel, event, event_id, data): Row) -> LoggedBroadcast {
    LoggedBroadcast {
        position,
        channel,
        event,
        event_id,
        data: data.into(),
    }
}

/// Up to [`PAGE`] numbered rows after `after`, oldest first, on any channel (a tailer's read).
pub(crate) async fn read_after(conn: &mut AnyConnection, after: i64) -> Result<Vec<Arc<LoggedBroadcast>>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT position, channel, event, event_id, data FROM broadcast_log \
         WHERE position > $1 ORDER BY position LIMIT $2",
    )
    .bind(after)
    .bind(PAGE)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|row| Arc::new(logged(row))).collect())
}

/// Up to [`PAGE`] rows of `channels` after `after` and up to `through`, oldest first (a
/// resuming client's missed messages).
pub(crate) async fn read_channels(
    conn: &mut AnyConnection,
    channels: &[String],
    after: i64,
    through: i64,
) -> Result<Vec<Arc<LoggedBroadcast>>, sqlx::Error> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (0..channels.len()).map(|i| format!("${}", i + 4)).collect();
    let sql = format!(
        "SELECT position, channel, event, event_id, data FROM broadcast_log \
         WHERE position > $1 AND position <= $2 AND channel IN ({}) ORDER BY position LIMIT $3",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(through)
        .bind(PAGE);
    for channel in channels {
        query = query.bind(channel.clone());
    }
    let rows = query.fetch_all(conn).await?;
    Ok(rows.into_iter().map(|row| Arc::new(logged(row))).collect())
}

/// The last position given and the last one pruned.
pub(crate) async fn bounds(conn: &mut AnyConnection) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as("SELECT last_position, pruned_through FROM broadcast_sequence WHERE id = 1")
        .fetch_one(conn)
        .await
}

/// On PostgreSQL, numbers the committed rows that have no position yet, in the order they were
/// written, after the last position given; returns the last position. One sequencer at a time:
/// each holds the sequence row, and its numbering statement runs after taking it (a new snapshot
/// at READ COMMITTED), so it sees every row the previous one numbered. A position is therefore
/// visible only once every smaller one is. On SQLite positions are given at commit; this only
/// reads the last one.
pub(crate) async fn sequence(db: &Database) -> Result<i64, sqlx::Error> {
    if db.backend() == Backend::Sqlite {
        return Ok(bounds(&mut *db.pool().acquire().await?).await?.0);
    }
    // Every commit that broadcasts wakes the tailer of every node, and usually another node has
    // already numbered its rows: one read (on the partial index of unnumbered rows) answers that
    // without taking the sequence row.
    let (last, pending): (i64, i64) = sqlx::query_as(
        "SELECT last_position, CAST(CASE WHEN EXISTS (SELECT 1 FROM broadcast_log WHERE position IS NULL) \
         THEN 1 ELSE 0 END AS BIGINT) FROM broadcast_sequence WHERE id = 1",
    )
    .fetch_one(db.pool())
    .await?;
    if pending == 0 {
        return Ok(last);
    }
    let mut tx = db.begin("BEGIN ISOLATION LEVEL READ COMMITTED").await?;
    let (last,): (i64,) = sqlx::query_as("SELECT last_position FROM broadcast_sequence WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *tx)
        .await?;
    let (numbered,): (i64,) = sqlx::query_as(
        "WITH pending AS (SELECT id, row_number() OVER (ORDER BY id) AS place FROM broadcast_log \
                          WHERE position IS NULL ORDER BY id LIMIT 10000), \
              numbered AS (UPDATE broadcast_log b SET position = $1 + p.place FROM pending p \
                           WHERE b.id = p.id RETURNING b.position) \
         SELECT COALESCE(MAX(position), $1) FROM numbered",
    )
    .bind(last)
    .fetch_one(&mut *tx)
    .await?;
    if numbered > last {
        sqlx::query("UPDATE broadcast_sequence SET last_position = $1 WHERE id = 1")
            .bind(numbered)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(numbered)
}

/// Deletes the numbered rows written before `before` and records the last position deleted, so
/// a client resuming from before it is told to reload. Returns how many rows were deleted.
pub(crate) async fn prune(db: &Database, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    // Number what is waiting first, so rows are never kept for want of a position.
    sequence(db).await?;
    let mut tx = db.begin_write().await?;
    let (through,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(position) FROM broadcast_log WHERE created_at < $1 AND position IS NOT NULL")
            .bind(to_micros(before))
            .fetch_one(&mut *tx)
            .await?;
    let Some(through) = through else {
        return Ok(0);
    };
    let deleted = sqlx::query("DELETE FROM broadcast_log WHERE position <= $1")
        .bind(through)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query("UPDATE broadcast_sequence SET pruned_through = $1 WHERE id = 1 AND pruned_through < $1")
        .bind(through)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(deleted)
}
