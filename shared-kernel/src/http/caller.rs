//! The authenticated caller of a request, from `Authorization: Bearer <token>`.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::ApiError;
use crate::bus::EventBus;
use crate::ids::UserId;
use crate::users::{Actor, Role, User, authenticate};

/// What every context's routes get from `app`: the bus (and through it the database).
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The event bus every command starts from.
    pub bus: EventBus,
}

impl ApiState {
    /// A reader connection (never waits for a write transaction on SQLite) for a route's reads;
    /// failing to get one is a server fault.
    pub async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, ApiError> {
        self.bus.db().pool().acquire().await.map_err(|e| ApiError::internal(&e))
    }
}

/// The user a request acts for, authenticated by an API token (checked on every request, so a
/// revoked token stops working at once). Rejects with 401 in the error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// Their role.
    pub role: Role,
}

impl Caller {
    /// The caller's id: the `actor_id` of every event their request causes.
    pub fn id(&self) -> UserId {
        self.user.id()
    }

    /// The caller as the actor of a command, with their role's authority.
    pub fn actor(&self) -> Actor {
        Actor::new(self.user.id(), self.role)
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The caller holding API token `token`; 401 when it is unknown or revoked.
    pub async fn from_token(state: &ApiState, token: &str) -> Result<Self, ApiError> {
        let mut conn = state.read().await?;
        match authenticate(&mut conn, token).await? {
            Some(caller) => Ok(Caller {
                user: caller.user,
                role: caller.role,
            }),
            None => Err(ApiError::unauthorized("the API token is unknown or revoked")),
        }
    }

    /// The bearer token of the `Authorization` header, if there is one; 401 when the header is
    /// not `Bearer <token>`.
    pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
        let Some(header) = headers.get(AUTHORIZATION) else {
            return Ok(None);
        };
        header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(|t| Some(t.trim()))
            .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
    }

    /// 403 unless the caller has one of `roles` (admins always may).
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), ApiError> {
        if self.is_admin() || roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("a {} may not {action}", self.role)))
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = Self::bearer(&parts.headers)?
            .ok_or_else(|| ApiError::unauthorized("send an API token as `Authorization: Bearer <token>`"))?;
        Self::from_token(&ApiState::from_ref(state), token).await
    }
}
