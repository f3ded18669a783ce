//! Catch-up listeners: a queued listener registered with
//! [`QueueOptions::catch_up`](crate::QueueOptions::catch_up) gets the history when it is
//! switched on. Each starting worker records every queued listener's first appearance in
//! `listener_registrations`, then replays to each catch-up listener not yet caught up every past
//! event it listens to and marks it caught up. Two workers starting at once may both replay: the
//! delivery ledger lets each pair through once, so that costs time, never a duplicate.

use sqlx::AssertSqlSafe;

use super::replay::{ReplayError, ReplayFilter, ReplayReport, replay};
use crate::bus::{EventBus, Mode, ledger};
use crate::clock::to_db_text;

/// What one catch-up listener received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaughtUp {
    /// The listener.
    pub listener: String,
    /// Its replay.
    pub report: ReplayReport,
}

/// Records the queued listeners' first appearance and replays the history to each catch-up
/// listener not yet caught up; `progress` is told (listener, events read) after each batch.
///
/// # Errors
/// As [`replay`]; a listener whose replay failed stays not caught up, so the next start tries
/// again (its batches already enqueued are not enqueued twice).
pub async fn catch_up(bus: &EventBus, mut progress: impl FnMut(&str, u64)) -> Result<Vec<CaughtUp>, ReplayError> {
    let mut queued: Vec<(&'static str, bool)> = Vec::new();
    for event in bus.registry().listing() {
        for l in event.listeners {
            if let Mode::Queued(options) = &l.mode {
                match queued.iter_mut().find(|(name, _)| *name == l.listener) {
                    Some(entry) => entry.1 |= options.is_catch_up(),
                    None => queued.push((l.listener, options.is_catch_up())),
                }
            }
        }
    }
    if queued.is_empty() {
        return Ok(Vec::new());
    }
    let db = bus.db();
    let now = to_db_text(bus.clock().now());
    let rows: Vec<String> = (0..queued.len()).map(|i| format!("(${}, $1)", i + 2)).collect();
    let sql = format!(
        "INSERT INTO listener_registrations (listener, first_seen_at) VALUES {} ON CONFLICT DO NOTHING",
        rows.join(", ")
    );
    let mut insert = sqlx::query(AssertSqlSafe(sql)).bind(now.clone());
    for (name, _) in &queued {
        insert = insert.bind((*name).to_owned());
    }
    insert.execute(db.writer()).await?;

    let wanted: Vec<&str> = queued.iter().filter(|(_, c)| *c).map(|(n, _)| *n).collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT listener FROM listener_registrations WHERE caught_up_at IS NULL AND listener IN {} ORDER BY listener",
        ledger::placeholders(1, wanted.len())
    );
    let mut pending = sqlx::query_as::<_, (String,)>(AssertSqlSafe(sql));
    for name in &wanted {
        pending = pending.bind((*name).to_owned());
    }
    let pending = pending.fetch_all(db.pool()).await?;

    let mut caught_up = Vec::new();
    for (listener,) in pending {
        tracing::info!(listener, "catching up: replaying the past events it listens to");
        let report = replay(bus, &listener, &ReplayFilter::default(), |read| {
            progress(&listener, read)
        })
        .await?;
        sqlx::query("UPDATE listener_registrations SET caught_up_at = $1 WHERE listener = $2")
            .bind(to_db_text(bus.clock().now()))
            .bind(listener.clone())
            .execute(db.writer())
            .await?;
        tracing::info!(
            listener,
            enqueued = report.enqueued,
            already_delivered = report.already_delivered,
            "caught up"
        );
        caught_up.push(CaughtUp { listener, report });
    }
    Ok(caught_up)
}
