//! The one error shape of the API: `{"error": {"code": "…", "message": "…"}}`, with a stable
//! `code` per cause. Database text never reaches a client: a server fault is logged with its
//! cause and answered with `internal` only.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::bus::UowError;

/// An error answer: a status, a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The code and message of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: what clients branch on.
    pub code: String,
    /// For people; may change.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401: no token, or a bad or revoked one.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 with a code naming what was not found (also for what the caller may not see).
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409: the current state forbids it.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422: the request is malformed or a value is invalid.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 500: a server fault. `cause` is logged, never sent. A conflict with a concurrent
    /// transaction that outlasted the retries ([`crate::is_conflict`]) is not a fault: it is
    /// 409 `concurrent_change`, which a client may retry.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        if crate::bus::is_conflict(cause) {
            tracing::warn!(error = %cause, "a request lost a conflict with concurrent transactions after every retry");
            return Self::conflict("concurrent_change", "a concurrent change got there first; try again");
        }
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(inner) = source {
            chain.push_str(": ");
            chain.push_str(&inner.to_string());
            source = inner.source();
        }
        tracing::error!(error = %chain, "request failed with a server fault");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; the request changed nothing that was not committed",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message for people (never database text).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

/// So a handler's command can run through [`EventBus::retrying`](crate::EventBus::retrying).
impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<UowError> for ApiError {
    /// A conflict is 409 `concurrent_change`, anything else a server fault ([`ApiError::internal`]).
    fn from(e: UowError) -> Self {
        Self::internal(&e)
    }
}

impl From<crate::users::UserError> for ApiError {
    fn from(e: crate::users::UserError) -> Self {
        use crate::users::UserError;
        match e {
            UserError::InvalidName => Self::invalid("invalid_name", e.to_string()),
            UserError::InvalidEmail(_) => Self::invalid("invalid_email", e.to_string()),
            UserError::InvalidRole(_) => Self::invalid("invalid_role", e.to_string()),
            UserError::EmailTaken(_) => Self::conflict("email_taken", e.to_string()),
            UserError::UnknownEmail(_) => Self::not_found("user_not_found", e.to_string()),
            UserError::Database(_) => Self::internal(&e),
        }
    }
}
