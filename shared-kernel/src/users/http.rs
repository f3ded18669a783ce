//! The users' HTTP routes: sign-up and the caller's own profile. `app` mounts [`routes`].
//!
//! | route | who |
//! |---|---|
//! | `POST /api/users` `{name, email}` → 201 `{id, token}` | anyone (signs up a learner) |
//! | `GET /api/me` | the caller |

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::{Role, create_user_with_role, issue_token};
use crate::http::{ApiError, ApiJson, ApiState, Caller, Created, ErrorBody};
use crate::ids::UserId;

/// The users' routes.
pub fn routes(api: ApiState) -> Router {
    Router::new()
        .route("/api/users", post(sign_up))
        .route("/api/me", get(me))
        .with_state(api)
}

/// `POST /api/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// Display name, 1 to 120 characters.
    pub name: String,
    /// Email address (unique).
    pub email: String,
}

/// A new user and their API token (shown only now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedUp {
    /// Their id.
    pub id: UserId,
    /// Their API token, for `Authorization: Bearer …`.
    pub token: String,
}

/// The caller as `GET /api/me` shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    /// Their id.
    pub id: UserId,
    /// Their name.
    pub name: String,
    /// Their email address.
    pub email: String,
    /// `admin`, `instructor` or `learner`.
    pub role: Role,
}

/// Signs up a learner and issues their API token (shown only in this answer).
#[utoipa::path(post, path = "/api/users", operation_id = "sign_up", tag = "users", request_body = SignUp,
    responses(
        (status = 201, description = "Signed up", body = SignedUp),
        (status = 409, description = "The email is taken", body = ErrorBody),
        (status = 422, description = "Malformed body, invalid name or email", body = ErrorBody),
    ))]
async fn sign_up(State(api): State<ApiState>, ApiJson(body): ApiJson<SignUp>) -> Result<Created<SignedUp>, ApiError> {
    let (user, token) = api
        .bus
        .retrying(|| async {
            let mut uow = api.bus.begin();
            let now = api.bus.clock().now();
            let conn = uow.conn().await?;
            let user = create_user_with_role(conn, &body.name, &body.email, Role::Learner, now).await?;
            let token = issue_token(conn, user.id(), now).await?;
            uow.commit().await?;
            Ok::<_, ApiError>((user, token))
        })
        .await?;
    Ok(Created {
        location: "/api/me".to_owned(),
        body: SignedUp {
            id: user.id(),
            token: token.expose().to_owned(),
        },
    })
}

/// The caller.
#[utoipa::path(get, path = "/api/me", operation_id = "show_me", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
async fn me(caller: Caller) -> ApiJson<Me> {
    ApiJson(Me {
        id: caller.id(),
        name: caller.user.name().to_owned(),
        email: caller.user.email().as_str().to_owned(),
        role: caller.role,
    })
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(sign_up, me))]
struct ApiDoc;

/// This module's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}
