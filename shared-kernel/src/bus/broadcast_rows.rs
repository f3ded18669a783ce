//! The broadcast log rows a commit writes (one per event and channel, plus one per event on the
//! admins' channel), and how positions are given on each backend;
//! [`broadcast::log`](crate::broadcast) reads them back.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::event::SharedEnvelope;
use crate::clock::to_micros;
use crate::db::Backend;

/// One broadcast to write: an event's broadcast on one of its channels.
#[derive(Debug, Clone)]
pub(crate) struct BroadcastRow {
    pub(crate) channel: String,
    pub(crate) event: &'static str,
    pub(crate) event_id: String,
    pub(crate) data: String,
}

/// The admins' channel (`private-admin.events` as clients address it): every committed event,
/// whether or not it has a broadcast of its own, as its name, id, aggregate and time (never its
/// payload). The events dashboard's live tail listens to it.
pub(crate) const ADMIN_EVENTS_CHANNEL: &str = "admin.events";

/// The rows the dispatched events broadcast, one per (event, channel), in dispatch order. Every
/// event with a broadcast is written, audited or not (`ProgressUpdated` is broadcast too); and
/// every event, broadcast or not, has one row on the admins' channel: one more row in the same
/// multi-row INSERT, so the same round trip.
pub(crate) fn rows(events: &[SharedEnvelope]) -> Vec<BroadcastRow> {
    let mut rows = Vec::new();
    for event in events {
        let event_id = event.meta().event_id().to_string();
        rows.push(BroadcastRow {
            channel: format!("private-{ADMIN_EVENTS_CHANNEL}"),
            event: event.name(),
            event_id: event_id.clone(),
            data: serde_json::json!({
                "name": event.name(),
                "id": event_id,
                "aggregate_type": event.aggregate_type(),
                "aggregate_id": event.aggregate_id(),
                "occurred_at": crate::clock::to_db_text(event.meta().occurred_at()),
            })
            .to_string(),
        });
        let Some(broadcast) = event.broadcast() else {
            continue;
        };
        let data = event.metadata().to_string();
        for channel in broadcast.channels() {
            rows.push(BroadcastRow {
                channel: channel.address(),
                event: broadcast.name(),
                event_id: event_id.clone(),
                data: data.clone(),
            });
        }
    }
    rows
}

/// The INSERT of broadcast rows, for a backend: the statement head (before `VALUES`), its tail
/// and the number of columns per row. On SQLite each row's position is the last one given plus
/// its place in the commit (`column2`), and [`advance_sql`] then moves the sequence on in the same
/// round trip; on PostgreSQL rows are written unnumbered.
pub(crate) fn insert_sql(backend: Backend) -> (&'static str, &'static str, usize) {
    match backend {
        Backend::Sqlite => (
            "INSERT INTO broadcast_log (id, position, channel, event, event_id, data, created_at) \
             SELECT column1, (SELECT last_position FROM broadcast_sequence WHERE id = 1) + column2, column3, \
             column4, column5, column6, column7 FROM (",
            ")",
            7,
        ),
        Backend::Postgres => (
            "INSERT INTO broadcast_log (id, channel, event, event_id, data, created_at)",
            "",
            6,
        ),
    }
}

/// On SQLite, the statement that follows the INSERTs of `count` rows: the sequence moves past
/// their positions. Nothing on PostgreSQL (the sequencer numbers rows after their commit).
pub(crate) fn advance_sql(backend: Backend, count: usize) -> Option<String> {
    (backend == Backend::Sqlite && count > 0)
        .then(|| format!("UPDATE broadcast_sequence SET last_position = last_position + {count} WHERE id = 1"))
}

/// The values of one row of [`insert_sql`]: `place` is the row's place in the commit (from 1).
pub(crate) fn row_values(backend: Backend, row: &BroadcastRow, place: usize, now: DateTime<Utc>) -> Vec<RowValue> {
    let mut values = vec![RowValue::Text(Uuid::now_v7().to_string())];
    if backend == Backend::Sqlite {
        values.push(RowValue::Int(i64::try_from(place).unwrap_or(i64::MAX)));
    }
    values.extend([
        RowValue::Text(row.channel.clone()),
        RowValue::Text(row.event.to_owned()),
        RowValue::Text(row.event_id.clone()),
        RowValue::Text(row.data.clone()),
        RowValue::Int(to_micros(now)),
    ]);
    values
}

/// A value of a broadcast row.
pub(crate) enum RowValue {
    Text(String),
    Int(i64),
}
