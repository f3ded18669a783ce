//! What the dashboard shows, read through the same queries as the CLI and `/metrics`: the audit
//! log's ([`AuditLog::query`], [`AuditLog::count_per_minute`]), the queue's ([`Queue::stats`],
//! [`Queue::depth_history`], [`Queue::failed_jobs`]) and the recorder's
//! ([`MetricsExporter::listener_figures`](crate::metrics::MetricsExporter::listener_figures)).

use chrono::{DateTime, DurationRound, Utc};
use serde::Deserialize;

use super::AdminState;
use crate::audit::{AuditEntry, AuditLog, AuditQuery};
use crate::http::ApiError;
use crate::ids::{CorrelationId, UserId};
use crate::metrics::ListenerFigures;
use crate::queue::{DepthSample, FailedJob, Queue, QueueStats};

/// How many recent events the page lists unless `limit` says otherwise, and at most.
const RECENT_EVENTS: u32 = 50;
const MAX_RECENT_EVENTS: u32 = 500;
/// How many failed jobs the page lists (the oldest failures first, as `queue failed`).
const FAILED_JOBS: usize = 50;
/// The charts' span: the last hour, a bar or point per minute.
pub(super) const MINUTES: i64 = 60;

/// The dashboard's query: the recent events' filters, and the notice after a form.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct DashboardQuery {
    /// An event name, e.g. `enrollment.created`.
    #[serde(default)]
    pub(super) event: Option<String>,
    /// An aggregate type, optionally with an id: `enrollment` or `enrollment:<uuid>`.
    #[serde(default)]
    pub(super) aggregate: Option<String>,
    /// A tag, e.g. `course:<uuid>`.
    #[serde(default)]
    pub(super) tag: Option<String>,
    /// The id of the user who caused the events.
    #[serde(default)]
    pub(super) actor: Option<String>,
    /// A correlation id (one cascade).
    #[serde(default)]
    pub(super) correlation: Option<String>,
    /// How many recent events (1 to 500; 50 by default).
    #[serde(default)]
    pub(super) limit: Option<String>,
    /// What the last form did (`retried`, `forgotten`, `signed_in`).
    #[serde(default)]
    pub(super) done: Option<String>,
    /// The failed job the last form concerned.
    #[serde(default)]
    pub(super) job: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl DashboardQuery {
    /// The filters as an audit query, checked against what is registered; a bad value is 422
    /// naming the filter.
    pub(super) fn audit_query(&self, state: &AdminState) -> Result<AuditQuery, ApiError> {
        let registry = state.api.bus.registry();
        let mut query = AuditQuery::new();
        if let Some(event) = given(&self.event) {
            if !registry.event_names().contains(&event) {
                return Err(ApiError::invalid(
                    "invalid_filter",
                    format!("event: no event is named `{event}`"),
                ));
            }
            query = query.event_name(event);
        }
        if let Some(aggregate) = given(&self.aggregate) {
            let (kind, id) = match aggregate.split_once(':') {
                Some((kind, id)) => (kind, Some(id)),
                None => (aggregate, None),
            };
            if !registry.aggregate_types().contains(&kind) {
                return Err(ApiError::invalid(
                    "invalid_filter",
                    format!("aggregate: no aggregate type `{kind}`; write `type` or `type:id`"),
                ));
            }
            let id = id
                .map(|id| {
                    uuid::Uuid::parse_str(id)
                        .map(|id| id.to_string())
                        .map_err(|_| ApiError::invalid("invalid_filter", format!("aggregate: `{id}` is not an id")))
                })
                .transpose()?;
            query = query.aggregate(kind, id);
        }
        if let Some(tag) = given(&self.tag) {
            query = query.tag(tag);
        }
        if let Some(actor) = given(&self.actor) {
            let actor = UserId::parse(actor)
                .map_err(|_| ApiError::invalid("invalid_filter", format!("actor: `{actor}` is not a user id")))?;
            query = query.actor(actor);
        }
        if let Some(correlation) = given(&self.correlation) {
            let correlation = CorrelationId::parse(correlation).map_err(|_| {
                ApiError::invalid(
                    "invalid_filter",
                    format!("correlation: `{correlation}` is not a correlation id"),
                )
            })?;
            query = query.correlation(correlation);
        }
        Ok(query)
    }

    /// How many recent events to list; 422 outside 1 to 500.
    pub(super) fn limit(&self) -> Result<u32, ApiError> {
        match given(&self.limit) {
            None => Ok(RECENT_EVENTS),
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_RECENT_EVENTS).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_filter",
                        format!("limit: `{text}` is not a number from 1 to {MAX_RECENT_EVENTS}"),
                    )
                }),
        }
    }
}

/// Everything the page shows.
#[derive(Debug)]
pub(super) struct Dashboard {
    /// When it was read (the bus's clock).
    pub(super) now: DateTime<Utc>,
    /// The first minute of the charts.
    pub(super) since: DateTime<Utc>,
    /// The latest events matching the filters, newest first.
    pub(super) recent: Vec<AuditEntry>,
    /// Events per name in the last hour (matching the filters), most first.
    pub(super) per_name: Vec<(String, i64)>,
    /// Events per minute in the last hour (matching the filters), oldest minute first.
    pub(super) per_minute: Vec<i64>,
    /// Every queue, as `queue monitor` shows it.
    pub(super) queues: Vec<QueueStats>,
    /// The depth samples of the last hour.
    pub(super) depth_history: Vec<DepthSample>,
    /// The oldest failed jobs (at most [`FAILED_JOBS`]) and whether there are more.
    pub(super) failed: Vec<FailedJob>,
    pub(super) more_failed: bool,
    /// Listener figures of this process.
    pub(super) listeners: Vec<ListenerFigures>,
    /// Every registered event name (the live tail listens for each).
    pub(super) event_names: Vec<&'static str>,
}

/// Reads the dashboard's figures; a storage failure is a logged 500.
pub(super) async fn gather(state: &AdminState, query: AuditQuery, limit: u32) -> Result<Dashboard, ApiError> {
    let bus = &state.api.bus;
    let now = bus.clock().now();
    let minute = now.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(now);
    let since = minute - chrono::Duration::minutes(MINUTES - 1);
    let audit = AuditLog::new(bus.db().clone());
    let recent = audit
        .query(&query.clone().latest(limit))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let counts = audit
        .count_per_minute(&query.from(since))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut per_minute = vec![0; usize::try_from(MINUTES).unwrap_or(60)];
    let mut per_name: Vec<(String, i64)> = Vec::new();
    for count in counts {
        let slot = (count.minute - since).num_minutes();
        if let Some(bar) = usize::try_from(slot).ok().and_then(|i| per_minute.get_mut(i)) {
            *bar += count.count;
        }
        match per_name.iter_mut().find(|(name, _)| *name == count.event_name) {
            Some((_, n)) => *n += count.count,
            None => per_name.push((count.event_name, count.count)),
        }
    }
    per_name.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let queue = Queue::new(bus.clone());
    let queues = queue.stats(&state.queues).await.map_err(|e| ApiError::internal(&e))?;
    let depth_history = queue.depth_history(since).await.map_err(|e| ApiError::internal(&e))?;
    let mut failed = queue
        .failed_jobs(None, FAILED_JOBS + 1)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let more_failed = failed.len() > FAILED_JOBS;
    failed.truncate(FAILED_JOBS);
    let mut event_names = bus.registry().event_names().to_vec();
    event_names.sort_unstable();
    Ok(Dashboard {
        now,
        since,
        recent: recent.into_iter().rev().collect(),
        per_name,
        per_minute,
        queues,
        depth_history,
        failed,
        more_failed,
        listeners: state.exporter.listener_figures(),
        event_names,
    })
}
