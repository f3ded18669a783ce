//! The webhook endpoints over HTTP, for admins. `app` mounts [`routes`].
//!
//! | route | who |
//! |---|---|
//! | `GET /api/webhooks` → the active endpoints with their last delivery | admins |
//! | `POST /api/webhooks` `{url, events, allow_private?}` → 201 `{id, secret}` (the secret shown only now) | admins |
//! | `POST /api/webhooks/{id}/remove` → 204 | admins |
//! | `POST /api/webhooks/{id}/rotate-secret` → `{id, secret}` | admins |

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::{
    Endpoint, EventNames, WebhookError, WebhookUrl, add_endpoint, list_endpoints, remove_endpoint, rotate_secret,
};
use crate::http::{ApiError, ApiJson, ApiState, Caller, Created, ErrorBody};
use crate::ids::WebhookEndpointId;

/// The webhook routes.
pub fn routes(api: ApiState) -> Router {
    Router::new()
        .route("/api/webhooks", get(list).post(create))
        .route("/api/webhooks/{id}/remove", post(remove))
        .route("/api/webhooks/{id}/rotate-secret", post(rotate))
        .with_state(api)
}

/// `POST /api/webhooks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are posted: `http` or `https`, resolving to public addresses.
    pub url: String,
    /// The event names to receive (e.g. `["enrollment.created"]`).
    pub events: Vec<String>,
    /// Allow a loopback, private or link-local address (e.g. a receiver on the same network).
    #[serde(default)]
    pub allow_private: bool,
}

/// An endpoint's id and its signing secret (shown only in this answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookSecretShown {
    /// The endpoint's id.
    pub id: WebhookEndpointId,
    /// `whsec_…`: the key the `webhook-signature` header is computed with.
    pub secret: String,
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::InvalidUrl { .. } => Self::invalid("invalid_url", e.to_string()),
            WebhookError::PrivateAddress { .. } => Self::invalid("private_address", e.to_string()),
            WebhookError::Unresolvable { .. } => Self::invalid("unresolvable_host", e.to_string()),
            WebhookError::InvalidEvents(_) => Self::invalid("invalid_events", e.to_string()),
            WebhookError::NotFound(_) => Self::not_found("webhook_not_found", e.to_string()),
            WebhookError::Database(_) => Self::internal(&e),
        }
    }
}

fn admin_only(caller: &Caller) -> Result<(), ApiError> {
    caller.require(&[], "manage webhooks")
}

fn endpoint_id(id: &str) -> Result<WebhookEndpointId, ApiError> {
    WebhookEndpointId::parse(id).map_err(|e| ApiError::not_found("webhook_not_found", e.to_string()))
}

/// The active endpoints, oldest first, each with its last delivery.
#[utoipa::path(get, path = "/api/webhooks", operation_id = "list_webhooks", tag = "webhooks", security(("bearer" = [])),
    responses(
        (status = 200, description = "The active endpoints", body = Vec<Endpoint>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
async fn list(State(api): State<ApiState>, caller: Caller) -> Result<ApiJson<Vec<Endpoint>>, ApiError> {
    admin_only(&caller)?;
    let mut conn = api.read().await?;
    Ok(ApiJson(list_endpoints(&mut conn).await?))
}

/// Registers an endpoint; the answer holds its secret, shown only now.
#[utoipa::path(post, path = "/api/webhooks", operation_id = "create_webhook", tag = "webhooks", security(("bearer" = [])),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Registered", body = WebhookSecretShown),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "Invalid URL, a non-public address without allow_private, or unknown events", body = ErrorBody),
    ))]
async fn create(
    State(api): State<ApiState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<Created<WebhookSecretShown>, ApiError> {
    admin_only(&caller)?;
    let events = EventNames::parse(&body.events.join(","), api.bus.registry().event_names())?;
    // Resolved before the transaction opens: no lookup under the write lock.
    let url = WebhookUrl::parse(&body.url, body.allow_private).await?;
    let (id, secret) = api
        .bus
        .retrying(|| async {
            let mut uow = api.bus.begin().with_actor(Some(caller.id()));
            let now = api.bus.clock().now();
            let added = add_endpoint(uow.conn().await?, &url, &events, body.allow_private, now).await?;
            uow.commit().await?;
            Ok::<_, ApiError>(added)
        })
        .await?;
    Ok(Created {
        location: "/api/webhooks".to_owned(),
        body: WebhookSecretShown {
            id,
            secret: secret.expose().to_owned(),
        },
    })
}

/// Removes an endpoint: nothing more is delivered to it, retries included.
#[utoipa::path(post, path = "/api/webhooks/{id}/remove", operation_id = "remove_webhook", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No active endpoint with this id", body = ErrorBody),
    ))]
async fn remove(State(api): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    admin_only(&caller)?;
    let id = endpoint_id(&id)?;
    api.bus
        .retrying(|| async {
            let mut uow = api.bus.begin().with_actor(Some(caller.id()));
            let now = api.bus.clock().now();
            remove_endpoint(uow.conn().await?, id, now).await?;
            uow.commit().await?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives an endpoint a new secret, shown only in this answer; the old one stops signing at once.
#[utoipa::path(post, path = "/api/webhooks/{id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The new secret", body = WebhookSecretShown),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No active endpoint with this id", body = ErrorBody),
    ))]
async fn rotate(
    State(api): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiJson<WebhookSecretShown>, ApiError> {
    admin_only(&caller)?;
    let id = endpoint_id(&id)?;
    let secret = api
        .bus
        .retrying(|| async {
            let mut uow = api.bus.begin().with_actor(Some(caller.id()));
            let secret = rotate_secret(uow.conn().await?, id).await?;
            uow.commit().await?;
            Ok::<_, ApiError>(secret)
        })
        .await?;
    Ok(ApiJson(WebhookSecretShown {
        id,
        secret: secret.expose().to_owned(),
    }))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, create, remove, rotate))]
struct ApiDoc;

/// This module's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
