//! The statements of past events, read back whole from the audit log (`export xapi`).

use chrono::{DateTime, Utc};

use super::{Statement, XapiMappings, XapiProfile};
use crate::audit::replay::{REPLAY_BATCH, ReplayFilter, page};
use crate::bus::{EventBus, UpcastError};

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
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
    /// Writing a statement failed (e.g. stdout closed).
    #[error("writing the statements failed")]
    Write(#[source] std::io::Error),
    /// The database failed.
    #[error("reading the audit log failed")]
    Database(#[from] sqlx::Error),
}

/// What an export did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Past events of mapped types read.
    pub events: u64,
    /// Statements written.
    pub statements: u64,
    /// Events written before the log kept whole payloads: they have no statements.
    pub without_payload: u64,
}

/// Gives `sink` the statements of every audited event of a type in `mappings` that occurred in
/// `[from, until)`, oldest first (ties by event id), each upcast to its current version and
/// rebuilt as its typed event: the same statements, with the same ids, as [`ForwardToLrs`]
/// posted. Reads in pages, so memory stays flat however long the history.
///
/// # Errors
/// [`ExportError`]: an event that cannot be read or rebuilt, a failing sink, the database.
///
/// [`ForwardToLrs`]: super::ForwardToLrs
pub async fn export_statements(
    bus: &EventBus,
    mappings: &XapiMappings,
    profile: &XapiProfile,
    from: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    mut sink: impl FnMut(&Statement) -> std::io::Result<()>,
) -> Result<ExportReport, ExportError> {
    let registry = bus.registry();
    let events: Vec<String> = mappings.events().into_iter().map(str::to_owned).collect();
    let mut report = ExportReport::default();
    if events.is_empty() {
        return Ok(report);
    }
    let filter = ReplayFilter {
        from,
        until,
        ..ReplayFilter::default()
    };
    let mut after: Option<(String, String)> = None;
    loop {
        let rows = page(bus, &events, &filter, after.as_ref()).await?;
        let Some(last) = rows.last() else {
            return Ok(report);
        };
        after = Some((last.1.clone(), last.0.clone()));
        for (event_id, _, name, payload, version) in &rows {
            report.events += 1;
            let Some(payload) = payload else {
                report.without_payload += 1;
                continue;
            };
            let version = u32::try_from(*version).unwrap_or(0);
            // Personal fields are stored sealed: revealed, or `[erased]`.
            let payload = &match crate::privacy::is_sealed(payload) {
                true => crate::privacy::reveal_text(&mut *bus.db().pool().acquire().await?, payload).await?,
                false => payload.clone(),
            };
            let current = registry
                .upcast(name, version, payload)
                .map_err(|source| ExportError::Version {
                    event_id: event_id.clone(),
                    source,
                })?;
            let corrupt = |reason: String| ExportError::Corrupt {
                event_id: event_id.clone(),
                event: name.clone(),
                reason,
            };
            let envelope = registry
                .rebuild(name, &current)
                .ok_or_else(|| corrupt("no such event is registered".to_owned()))?
                .map_err(|e| corrupt(e.to_string()))?;
            for statement in mappings.statements(&*envelope, profile).unwrap_or_default() {
                sink(&statement).map_err(ExportError::Write)?;
                report.statements += 1;
            }
        }
        if rows.len() < REPLAY_BATCH {
            return Ok(report);
        }
    }
}
