//! Replaying the audit log into a queued listener: a new consumer (analytics, a learning record
//! store, a webhook) gets the history, not only what happens from today. Each past event the
//! listener listens to is read back whole (upcast to its current version), and one job per event
//! is enqueued through the normal queue — retries, failed jobs and metrics all apply — oldest
//! first, in bounded batches.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use std::collections::HashSet;

use crate::bus::ledger;
use crate::bus::outbox::{self, JobRow};
use crate::bus::{CONFLICT_RETRIES, EventBus, Mode, UpcastError, conflict_backoff, is_conflict};
use crate::clock::{to_db_text, to_micros};

/// Which past events to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayFilter {
    /// Only this event (one the listener listens to).
    pub event: Option<String>,
    /// Events that occurred at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events that occurred before this time.
    pub until: Option<DateTime<Utc>>,
    /// Count what would be enqueued, enqueue nothing.
    pub dry_run: bool,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Past events matched (with a whole payload).
    pub matched: u64,
    /// Jobs enqueued; on a dry run, the jobs it would enqueue.
    pub enqueued: u64,
    /// Events the delivery ledger shows delivered to this listener already (or taken by an
    /// earlier replay): nothing enqueued.
    pub already_delivered: u64,
    /// Events whose job for this listener was already waiting (left as it was).
    pub already_waiting: u64,
    /// Events whose job for this listener lies in `failed_jobs` (`queue retry` brings it back):
    /// nothing enqueued.
    pub already_failed: u64,
    /// Events written before the log kept whole payloads: they cannot be replayed.
    pub without_payload: u64,
}

/// Why a replay cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No queued listener has that name.
    #[error("no queued listener is named `{name}`; the queued listeners are {}", known.join(", "))]
    UnknownListener {
        /// The name asked for.
        name: String,
        /// The queued listeners.
        known: Vec<String>,
    },
    /// The listener runs inside commands (sync): it cannot run over past events.
    #[error("`{0}` is a sync listener: it runs inside the command's transaction and cannot be replayed")]
    Sync(String),
    /// The listener does not listen to that event.
    #[error("`{listener}` does not listen to `{event}`; it listens to {}", listens_to.join(", "))]
    NotListening {
        /// The listener.
        listener: String,
        /// The event asked for.
        event: String,
        /// What it listens to.
        listens_to: Vec<String>,
    },
    /// The event is not audited, so the log has none to replay.
    #[error("`{0}` is not audited (it is broadcast only), so there are no past events of it to replay")]
    NotAudited(String),
    /// A past event cannot be read back.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The database failed.
    #[error("replaying failed")]
    Database(#[from] sqlx::Error),
}

/// Why a stored event cannot be read back as its typed value (a replay's or an export's).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A stored event cannot be read as its current version.
    #[error("event {event_id} cannot be read")]
    Version {
        /// The row's event id.
        event_id: String,
        /// Why.
        #[source]
        source: UpcastError,
    },
    /// A stored payload does not rebuild as its event.
    #[error("event {event_id} (`{event}`) does not rebuild: {reason}")]
    Corrupt {
        /// The row's event id.
        event_id: String,
        /// Its name.
        event: String,
        /// Why.
        reason: String,
    },
    /// The database failed (revealing sealed fields reads the keys).
    #[error("reading the event failed")]
    Database(#[from] sqlx::Error),
}

/// How many past events are read and enqueued per transaction.
pub const REPLAY_BATCH: usize = 500;

/// A page row: event id, occurred at, event name, payload (absent before whole payloads), schema version.
pub(crate) type Row = (String, String, String, Option<String>, i64);

/// Enqueues a job of the queued listener `listener` for every past audited event it listens to
/// that `filter` matches, oldest first, in batches of [`REPLAY_BATCH`] (one short transaction
/// each); `progress` is told the events read so far after each batch. A job already waiting
/// for the same (event, listener) is left alone.
///
/// # Errors
/// [`ReplayError`]: an unknown or sync listener, an event it does not listen to or that is not
/// audited (before anything is enqueued); a stored event that cannot be read as its current
/// version (the batches before it stay enqueued); storage failures.
pub async fn replay(
    bus: &EventBus,
    listener: &str,
    filter: &ReplayFilter,
    mut progress: impl FnMut(u64),
) -> Result<ReplayReport, ReplayError> {
    let registry = bus.registry();
    let listing = registry.listing();
    let mut listens_to = Vec::new();
    let mut audited = Vec::new();
    let mut sync = false;
    for event in &listing {
        let is_audited = event.listeners.iter().any(|l| l.listener == "LogDomainEvent");
        for l in event.listeners.iter().filter(|l| l.listener == listener) {
            match l.mode {
                Mode::Queued(_) => {
                    listens_to.push(event.event.to_owned());
                    if is_audited {
                        audited.push(event.event.to_owned());
                    }
                }
                Mode::Sync => sync = true,
            }
        }
    }
    if listens_to.is_empty() {
        if sync {
            return Err(ReplayError::Sync(listener.to_owned()));
        }
        let mut known: Vec<String> = listing
            .iter()
            .flat_map(|e| e.listeners.iter())
            .filter(|l| matches!(l.mode, Mode::Queued(_)))
            .map(|l| l.listener.to_owned())
            .collect();
        known.sort();
        known.dedup();
        return Err(ReplayError::UnknownListener {
            name: listener.to_owned(),
            known,
        });
    }
    let events = match &filter.event {
        None => audited,
        Some(event) if !listens_to.contains(event) => {
            return Err(ReplayError::NotListening {
                listener: listener.to_owned(),
                event: event.clone(),
                listens_to,
            });
        }
        Some(event) if !audited.contains(event) => return Err(ReplayError::NotAudited(event.clone())),
        Some(event) => vec![event.clone()],
    };
    let mut report = ReplayReport::default();
    if events.is_empty() {
        return Ok(report);
    }
    let db = bus.db();
    let mut after: Option<(String, String)> = None;
    let mut read = 0u64;
    loop {
        let page = page(bus, &events, filter, after.as_ref()).await?;
        let Some(last) = page.last() else {
            return Ok(report);
        };
        after = Some((last.1.clone(), last.0.clone()));
        read += page.len() as u64;
        let mut jobs = Vec::with_capacity(page.len());
        for (event_id, _, name, payload, version) in &page {
            let Some(payload) = payload else {
                report.without_payload += 1;
                continue;
            };
            let (current, envelope) = read_stored(bus, event_id, name, payload, *version).await?;
            let Some(target) = registry
                .queued_for(&*envelope)
                .into_iter()
                .find(|t| t.listener == listener)
            else {
                continue;
            };
            report.matched += 1;
            jobs.push(JobRow {
                id: Uuid::now_v7().to_string(),
                queue: target.options.queue().to_owned(),
                event_id: event_id.clone(),
                event_name: envelope.name(),
                listener: target.listener,
                payload: current.into(),
                max_tries: i64::from(target.options.max_tries()),
                delay_micros: 0,
                priority: target.options.job_priority().stored(),
                overlap_key: target
                    .options
                    .overlap_wait()
                    .and_then(|_| target.handler.overlap_key(&*envelope)),
            });
        }
        if !jobs.is_empty() {
            let outcome = enqueue_again_on_conflict(bus, listener, jobs, filter.dry_run).await?;
            report.enqueued += outcome.enqueued.len() as u64;
            report.already_delivered += outcome.held.delivered.len() as u64;
            report.already_waiting += outcome.held.waiting.len() as u64;
            report.already_failed += outcome.held.failed.len() as u64;
            if !filter.dry_run && !outcome.enqueued.is_empty() {
                crate::db::notify_committed(db, outcome.enqueued.iter().map(|j| j.queue.as_str()), false).await;
                bus.wake().signal();
            }
        }
        progress(read);
        if page.len() < REPLAY_BATCH {
            return Ok(report);
        }
    }
}

/// The next page of past events, in occurrence order (ties by event id) after `after`
/// (`(occurred_at, event_id)`).
pub(crate) async fn page(
    bus: &EventBus,
    events: &[String],
    filter: &ReplayFilter,
    after: Option<&(String, String)>,
) -> Result<Vec<Row>, sqlx::Error> {
    let mut binds: Vec<String> = events.to_vec();
    let names: Vec<String> = (1..=events.len()).map(|i| format!("${i}")).collect();
    let mut clauses = vec![format!("event_name IN ({})", names.join(", "))];
    let mut bind = |clause: &str, value: String, binds: &mut Vec<String>| {
        binds.push(value);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(from) = filter.from {
        bind("occurred_at >= ?", to_db_text(from), &mut binds);
    }
    if let Some(until) = filter.until {
        bind("occurred_at < ?", to_db_text(until), &mut binds);
    }
    if let Some((occurred_at, event_id)) = after {
        binds.push(occurred_at.clone());
        let n = binds.len();
        binds.push(event_id.clone());
        clauses.push(format!(
            "(occurred_at > ${n} OR (occurred_at = ${n} AND event_id > ${}))",
            n + 1
        ));
    }
    // Only fixed fragments and placeholder numbers are interpolated; every value is bound.
    let sql = format!(
        "SELECT event_id, occurred_at, event_name, payload, schema_version FROM domain_event_log \
         WHERE {} ORDER BY occurred_at, event_id LIMIT {REPLAY_BATCH}",
        clauses.join(" AND ")
    );
    let mut query = sqlx::query_as::<_, Row>(AssertSqlSafe(sql));
    for value in binds {
        query = query.bind(value);
    }
    query.fetch_all(bus.db().pool()).await
}

/// A stored event read back whole: its payload with personal fields revealed (or `[erased]`)
/// and upcast to the event's current version, and the typed envelope rebuilt from it.
///
/// # Errors
/// [`ReadError::Version`] (no upcaster), [`ReadError::Corrupt`], storage failures.
pub(crate) async fn read_stored(
    bus: &EventBus,
    event_id: &str,
    name: &str,
    payload: &str,
    version: i64,
) -> Result<(String, crate::bus::SharedEnvelope), ReadError> {
    let registry = bus.registry();
    let version = u32::try_from(version).unwrap_or(0);
    let payload = match crate::privacy::is_sealed(payload) {
        true => crate::privacy::reveal_text(&mut *bus.db().pool().acquire().await?, payload).await?,
        false => payload.to_owned(),
    };
    let current = registry
        .upcast(name, version, &payload)
        .map_err(|source| ReadError::Version {
            event_id: event_id.to_owned(),
            source,
        })?;
    let corrupt = |reason: String| ReadError::Corrupt {
        event_id: event_id.to_owned(),
        event: name.to_owned(),
        reason,
    };
    let envelope = registry
        .rebuild(name, &current)
        .ok_or_else(|| corrupt("no such event is registered".to_owned()))?
        .map_err(|e| corrupt(e.to_string()))?;
    Ok((current, envelope))
}

/// What one batch of a replay did.
struct Enqueued {
    held: ledger::Held,
    enqueued: Vec<JobRow>,
}

/// [`enqueue`], run again when a concurrent transaction conflicts with it (on PostgreSQL, a
/// worker's acknowledgement recording a pair of the same batch).
async fn enqueue_again_on_conflict(
    bus: &EventBus,
    listener: &str,
    jobs: Vec<JobRow>,
    dry_run: bool,
) -> Result<Enqueued, sqlx::Error> {
    let mut retries = 0;
    loop {
        match enqueue(bus, listener, jobs.clone(), dry_run).await {
            Err(e) if retries < CONFLICT_RETRIES && is_conflict(&e) => {
                retries += 1;
                tokio::time::sleep(conflict_backoff(retries)).await;
            }
            outcome => return outcome,
        }
    }
}

/// Enqueues `jobs` (one listener's) in one short transaction, but those the delivery ledger,
/// the queue or `failed_jobs` already hold; on a dry run, only counts them. The ledger decides:
/// a pair is enqueued only if this transaction records it there.
async fn enqueue(bus: &EventBus, listener: &str, jobs: Vec<JobRow>, dry_run: bool) -> Result<Enqueued, sqlx::Error> {
    let db = bus.db();
    let mut tx = db.begin_write().await?;
    let ids: Vec<String> = jobs.iter().map(|j| j.event_id.clone()).collect();
    let held = ledger::held(&mut tx, listener, &ids).await?;
    let skip: HashSet<&String> = held.delivered.iter().chain(&held.waiting).chain(&held.failed).collect();
    let open: Vec<JobRow> = jobs.into_iter().filter(|j| !skip.contains(&j.event_id)).collect();
    if dry_run {
        return Ok(Enqueued { held, enqueued: open });
    }
    let open_ids: Vec<String> = open.iter().map(|j| j.event_id.clone()).collect();
    let taken: HashSet<String> = ledger::take(&mut tx, listener, &open_ids, to_micros(bus.clock().now()))
        .await?
        .into_iter()
        .collect();
    let enqueued: Vec<JobRow> = open.into_iter().filter(|j| taken.contains(&j.event_id)).collect();
    let rows = outbox::Rows {
        audit: &[],
        jobs: &enqueued,
        broadcasts: &[],
        tags: &[],
        then: None,
    };
    outbox::write(&mut tx, db, rows, bus.clock().now(), bus.clock().database_offset()).await?;
    tx.commit().await?;
    Ok(Enqueued { held, enqueued })
}
