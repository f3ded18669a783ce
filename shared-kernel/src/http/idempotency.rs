//! `Idempotency-Key` on `POST`: a retried request with the same key and the same body gets the
//! first response (status, `Location` and body) and records nothing twice; the same key with a
//! different body is 422. The key is recorded with the caller in the command's own transaction
//! (so it exists iff the change committed), the response right after; keys expire after 24 hours.
//! A request whose command did not commit (a refusal) records nothing: its retry runs again and
//! is refused the same way.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, LOCATION};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::{ApiError, ApiState};
use crate::bus::{IdempotencyClaim, in_idempotency};
use crate::clock::to_micros;
use crate::users::authenticate;

/// The request header.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest body an idempotent request may have (as the server's body limit).
const BODY_LIMIT: usize = 1024 * 1024;

type Stored = (String, Option<i64>, Option<String>, Option<String>);

/// Middleware (`axum::middleware::from_fn_with_state(api, idempotency)`): see the module docs.
pub async fn idempotency(State(api): State<ApiState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(IDEMPOTENCY_HEADER).cloned() else {
        return next.run(request).await;
    };
    handle(&api, key, request, next)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn handle(api: &ApiState, key: HeaderValue, request: Request, next: Next) -> Result<Response, ApiError> {
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::invalid(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?
        .to_owned();
    let internal = |e: &(dyn std::error::Error + 'static)| ApiError::internal(e);
    let user_id = match request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
    {
        Some(token) => {
            let mut conn = api.bus.db().pool().acquire().await.map_err(|e| internal(&e))?;
            match authenticate(&mut conn, token.trim()).await {
                Ok(Some(caller)) => caller.user.id().to_string(),
                // The route's own Caller extractor answers 401.
                Ok(None) => return Ok(next.run(request).await),
                Err(e) => return Err(internal(&e)),
            }
        }
        None => String::new(),
    };
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the body is larger than 1 MiB",
        )
    })?;
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let request_hash: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();

    let now = api.bus.clock().now();
    let oldest = to_micros(now) - i64::try_from(KEY_LIFETIME.as_micros()).unwrap_or(i64::MAX);
    sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND idempotency_key = $2 AND created_at < $3")
        .bind(user_id.clone())
        .bind(key.clone())
        .bind(oldest)
        .execute(api.bus.db().writer())
        .await
        .map_err(|e| internal(&e))?;
    if stored(api, &user_id, &key).await.map_err(|e| internal(&e))?.is_some() {
        return answer_of(api, &user_id, &key, &request_hash).await;
    }

    let claim = Arc::new(Mutex::new(IdempotencyClaim {
        user_id: user_id.clone(),
        key: key.clone(),
        request_hash: request_hash.clone(),
        committed: false,
    }));
    let request = Request::from_parts(parts, Body::from(bytes));
    let response = in_idempotency(claim.clone(), next.run(request)).await;
    let committed = claim.lock().unwrap_or_else(|p| p.into_inner()).committed;
    if !committed {
        // Nothing committed under this key. If a concurrent request with the same key did commit
        // (and this one lost on the key), answer what it answered.
        if !response.status().is_success() && matches!(stored(api, &user_id, &key).await, Ok(Some(_))) {
            return answer_of(api, &user_id, &key, &request_hash).await;
        }
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| internal(&e))?;
    let location = parts
        .headers
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(str::to_owned);
    sqlx::query(
        "UPDATE idempotency_keys SET status = $1, location = $2, response = $3 WHERE user_id = $4 AND idempotency_key = $5",
    )
    .bind(i64::from(parts.status.as_u16()))
    .bind(location)
    .bind(String::from_utf8_lossy(&bytes).into_owned())
    .bind(user_id)
    .bind(key)
    .execute(api.bus.db().writer())
    .await
    .map_err(|e| internal(&e))?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// The stored answer under an existing key, waiting up to 2 s for a request that committed but
/// has not stored its answer yet (a concurrent copy); then 409 `idempotency_in_progress`.
async fn answer_of(api: &ApiState, user_id: &str, key: &str, request_hash: &str) -> Result<Response, ApiError> {
    let mut last = None;
    for _ in 0..40 {
        match stored(api, user_id, key).await.map_err(|e| ApiError::internal(&e))? {
            Some(found) if found.1.is_some() || found.0 != request_hash => return replay(found, request_hash),
            Some(found) => last = Some(found),
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match last {
        Some(found) => replay(found, request_hash),
        None => Err(ApiError::conflict(
            "idempotency_in_progress",
            "a request with this Idempotency-Key is being answered; retry shortly",
        )),
    }
}

async fn stored(api: &ApiState, user_id: &str, key: &str) -> Result<Option<Stored>, sqlx::Error> {
    sqlx::query_as(
        "SELECT request_hash, status, location, response FROM idempotency_keys WHERE user_id = $1 AND idempotency_key = $2",
    )
    .bind(user_id.to_owned())
    .bind(key.to_owned())
    .fetch_optional(api.bus.db().pool())
    .await
}

fn replay((hash, status, location, body): Stored, request_hash: &str) -> Result<Response, ApiError> {
    if hash != request_hash {
        return Err(ApiError::invalid(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request",
        ));
    }
    let Some(status) = status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
    else {
        return Err(ApiError::conflict(
            "idempotency_in_progress",
            "a request with this Idempotency-Key committed but its answer is not stored yet; retry shortly",
        ));
    };
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.unwrap_or_default(),
    )
        .into_response();
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    Ok(response)
}
