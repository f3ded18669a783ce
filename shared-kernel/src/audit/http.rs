//! `GET /api/events`: the audit log over HTTP, for admins, with the CLI's filters. `app` mounts
//! [`routes`].

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{AuditEntry, AuditLog, AuditQuery};
use crate::http::{ApiError, ApiJson, ApiQuery, ApiState, Caller, ErrorBody, Page};
use crate::ids::{CorrelationId, EventId, UserId};

/// The audit route.
pub fn routes(api: ApiState) -> Router {
    Router::new().route("/api/events", get(events)).with_state(api)
}

/// The filters of `GET /api/events`; every one given must match.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventFilters {
    /// `type` or `type:id`.
    pub aggregate: Option<String>,
    /// Only events caused by this user.
    pub actor: Option<UserId>,
    /// Only this event name.
    pub event: Option<String>,
    /// At or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Only this cascade.
    pub correlation: Option<CorrelationId>,
    /// Only events with this tag (e.g. `course:{id}`).
    pub tag: Option<String>,
    /// Page size (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The audit log, filtered, in occurrence order (one aggregate's: version order). Admins only.
#[utoipa::path(get, path = "/api/events", operation_id = "list_events", tag = "audit", security(("bearer" = [])),
    params(EventFilters),
    responses(
        (status = 200, description = "A page of audit entries", body = Page<AuditEntry>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "An invalid filter, limit or cursor", body = ErrorBody),
    ))]
async fn events(
    State(api): State<ApiState>,
    caller: Caller,
    ApiQuery(filters): ApiQuery<EventFilters>,
) -> Result<ApiJson<Page<AuditEntry>>, ApiError> {
    if !caller.is_admin() {
        return Err(ApiError::forbidden("only admins read the audit log"));
    }
    let page = crate::http::PageQuery {
        limit: filters.limit,
        cursor: filters.cursor.clone(),
    };
    let limit = page.limit()?;
    let registry = api.bus.registry();
    let mut query = AuditQuery::new();
    if let Some(aggregate) = &filters.aggregate {
        let (kind, id) = match aggregate.split_once(':') {
            Some((kind, id)) => (kind, Some(id)),
            None => (aggregate.as_str(), None),
        };
        if !registry.aggregate_types().contains(&kind) {
            return Err(ApiError::invalid(
                "invalid_aggregate",
                format!(
                    "no aggregate type `{kind}`; expected one of {}",
                    registry.aggregate_types().join(", ")
                ),
            ));
        }
        let id = id
            .map(|id| {
                uuid::Uuid::parse_str(id)
                    .map(|u| u.to_string())
                    .map_err(|_| ApiError::invalid("invalid_aggregate", format!("`{id}` is not an id")))
            })
            .transpose()?;
        query = query.aggregate(kind, id);
    }
    if let Some(actor) = filters.actor {
        query = query.actor(actor);
    }
    if let Some(event) = &filters.event {
        if !registry.event_names().contains(&event.as_str()) {
            return Err(ApiError::invalid("invalid_event", format!("no event named `{event}`")));
        }
        query = query.event_name(event.clone());
    }
    if let Some(from) = filters.from {
        query = query.from(from);
    }
    if let Some(until) = filters.until {
        query = query.until(until);
    }
    if let Some(tag) = filters.tag {
        query = query.tag(tag);
    }
    if let Some(correlation) = filters.correlation {
        query = query.correlation(correlation);
    }
    if let Some(after) = page.after()? {
        let after = EventId::parse(&after)
            .map_err(|_| ApiError::invalid("invalid_cursor", "the cursor is not one this API gave out"))?;
        query = query.after(after);
    }
    let rows = AuditLog::new(api.bus.db().clone())
        .query(&query.limit(limit + 1))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(ApiJson(Page::from_rows(rows, limit, |e| e.event_id.to_string())))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(events))]
struct ApiDoc;

/// This module's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
