//! The events dashboard, `GET /admin`: one server-rendered page for admins (no JavaScript build,
//! one small inline script for the live tail) showing what the event backbone is doing.
//!
//! * **Who:** admins, by the dashboard's session cookie (the API token given to the sign-in form,
//!   kept HttpOnly and SameSite=Strict) or `Authorization: Bearer`. Either is checked against the
//!   tokens table on every request, so revoking the token ends the session at the next request.
//!   Every POST carries a CSRF token derived from the session's token ([`session`]).
//! * **What:** the recent events with filters (name, aggregate, tag, actor, correlation) and the
//!   last hour's events per name and per minute (the audit log's queries, [`crate::AuditLog`]);
//!   each queue's depth and oldest job ([`crate::Queue::stats`], as `queue monitor` and
//!   `/metrics`) and its depth over the last hour (the samples running workers take each minute,
//!   [`crate::Queue::depth_history`]); every listener's runs, failures, mean and p95 duration in
//!   this process (the `/metrics` series, [`crate::metrics::ListenerFigures`]); the failed jobs
//!   with **Retry** and **Forget** ([`crate::Queue::retry`], [`crate::Queue::forget`]); and a live
//!   tail of every committed event over the SSE stream's admins' channel `private-admin.events`.
//! * **How it is drawn:** [`page`] writes the HTML (every datum escaped), [`charts`] the inline
//!   SVG; nothing is fetched from elsewhere.
//!
//! | route | what |
//! |---|---|
//! | `GET /admin` | the dashboard (filters as query parameters), or the sign-in form |
//! | `POST /admin/login` | `token`, `csrf`: signs in (sets the session cookie) |
//! | `POST /admin/logout` | `csrf`: signs out (clears the cookie) |
//! | `POST /admin/failed-jobs/{id}/retry` | `csrf`: puts a failed job back on its queue |
//! | `POST /admin/failed-jobs/{id}/forget` | `csrf`: deletes a failed job |

mod charts;
mod figures;
mod http;
mod page;
mod session;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub use http::routes;

use crate::http::{ApiError, ApiState};
use crate::metrics::MetricsExporter;

/// What the dashboard's routes read from.
#[derive(Debug, Clone)]
pub struct AdminState {
    api: ApiState,
    exporter: MetricsExporter,
    queues: Arc<[String]>,
}

impl AdminState {
    /// The dashboard over `api`'s bus, its listener figures from `exporter` (this process's
    /// recorder), showing `queues` even while they are empty.
    pub fn new(api: ApiState, exporter: MetricsExporter, queues: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            api,
            exporter,
            queues: queues.into_iter().map(Into::into).collect(),
        }
    }
}

/// A refusal or failure of a dashboard route, answered as a small HTML page carrying the API's
/// stable code (`unauthorized`, `forbidden`, `csrf_failed`, `failed_job_not_found`, …); a server
/// fault was logged by [`ApiError::internal`] and shows no cause.
#[derive(Debug)]
pub(crate) struct PageError(pub(crate) ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl PageError {
    /// 403 `csrf_failed`: the form's CSRF token is missing or wrong; nothing was changed.
    pub(crate) fn csrf() -> Self {
        Self(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "the form's CSRF token is missing or wrong (reload the dashboard and try again); nothing was changed",
        ))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, body) = page::error(&self.0);
        page::html(status, body, Vec::new())
    }
}
