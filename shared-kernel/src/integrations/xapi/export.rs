//! The statements of past events, read back whole from the audit log (`export xapi`).

use chrono::{DateTime, Utc};

use super::{Statement, XapiMappings, XapiProfile};
use crate::audit::replay::{REPLAY_BATCH, ReadError, ReplayFilter, page, read_stored};
use crate::bus::EventBus;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A past event cannot be read back.
    #[error(transparent)]
    Read(#[from] ReadError),
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
            let (_, envelope) = read_stored(bus, event_id, name, payload, *version).await?;
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
