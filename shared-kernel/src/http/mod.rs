//! What every context's HTTP routes share, written once: the error shape ([`ApiError`]), the
//! authenticated [`Caller`], JSON bodies whose rejections use the error shape ([`ApiJson`]),
//! paging ([`PageQuery`], [`Page`]), the request context (request id, correlation id), the
//! dashboard's session cookie ([`session_token`]),
//! safe retries of `POST` ([`idempotency`]) and the request counts for `/metrics` ([`http_metrics`]).
//!
//! Each context owns its routes (`course::http::routes(…)` and so on) the way it owns its
//! listeners; `app` mounts them.

mod caller;
mod error;
mod idempotency;
mod json;
mod metrics;
mod page;
mod request;
mod session;

pub use caller::{ApiState, Caller};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use idempotency::{IDEMPOTENCY_HEADER, KEY_LIFETIME, REPLAYED_HEADER, idempotency};
pub use json::{ApiJson, ApiQuery, Created, OptionalJson};
pub use metrics::{UNMATCHED_ROUTE, http_metrics};
pub use page::{Page, PageQuery};
pub use request::{CORRELATION_HEADER, REQUEST_ID_HEADER, redacted_uri, request_context};
pub use session::{SESSION_COOKIE, cookie, session_token};
