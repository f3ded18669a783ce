//! The dashboard's routes: the page, signing in and out, and the failed jobs' Retry and Forget.
//! Forms are `application/x-www-form-urlencoded`; every POST is refused (403 `csrf_failed`,
//! nothing changed) without the right CSRF token.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::figures::{DashboardQuery, gather};
use super::session::{
    clear_login_csrf_cookie, clear_session_cookie, csrf_for, login_csrf, login_csrf_cookie, new_login_csrf, new_nonce,
    same, session_cookie,
};
use super::{AdminState, PageError, page};
use crate::http::{ApiError, Caller, session_token};
use crate::queue::{Queue, QueueError};

/// The dashboard's routes (see the [module docs](super)).
pub fn routes(state: AdminState) -> Router {
    Router::new()
        .route("/admin", get(show))
        .route("/admin/login", post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/failed-jobs/{id}/retry", post(retry))
        .route("/admin/failed-jobs/{id}/forget", post(forget))
        .with_state(state)
}

/// An admin, and the API token that authenticated the request (the CSRF token derives from it).
struct Admin {
    caller: Caller,
    token: String,
}

/// Who asks: `Ok(None)` when the request carries no credentials at all. A bearer token wins over
/// the cookie; either must be valid (401) and an admin's (403).
async fn admin(state: &AdminState, headers: &HeaderMap) -> Result<Option<Admin>, ApiError> {
    let token = match Caller::bearer(headers)? {
        Some(token) => token,
        None => match session_token(headers) {
            Some(token) => token,
            None => return Ok(None),
        },
    };
    let caller = Caller::from_token(&state.api, token).await?;
    if !caller.is_admin() {
        return Err(ApiError::forbidden(format!(
            "the events dashboard is for admins; {} is a {}",
            caller.user.name(),
            caller.role
        )));
    }
    Ok(Some(Admin {
        caller,
        token: token.to_owned(),
    }))
}

/// The sign-in page, with a fresh CSRF value in the form and its cookie.
fn sign_in(headers: &HeaderMap, status: StatusCode, message: Option<&str>, mut cookies: Vec<HeaderValue>) -> Response {
    let csrf = new_login_csrf();
    cookies.push(login_csrf_cookie(headers, &csrf));
    page::html(status, page::login(message, &csrf), cookies)
}

/// `GET /admin`: the dashboard for an admin; the sign-in form (401) without credentials or with
/// a session whose token no longer works (the stale cookie is cleared); 403 for anyone else.
async fn show(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(query): Query<DashboardQuery>,
) -> Result<Response, PageError> {
    let admin = match admin(&state, &headers).await {
        Ok(Some(admin)) => admin,
        Ok(None) => return Ok(sign_in(&headers, StatusCode::UNAUTHORIZED, None, Vec::new())),
        Err(e) if e.status() == StatusCode::UNAUTHORIZED && Caller::bearer(&headers).ok().flatten().is_none() => {
            return Ok(sign_in(
                &headers,
                StatusCode::UNAUTHORIZED,
                Some("Your session has ended (its token was revoked): sign in again."),
                vec![clear_session_cookie(&headers)],
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let audit = query.audit_query(&state)?;
    let limit = query.limit()?;
    let dashboard = gather(&state, audit, limit).await?;
    let nonce = new_nonce();
    let body = page::dashboard(
        &dashboard,
        admin.caller.user.name(),
        &csrf_for(&admin.token),
        &query,
        &nonce,
    );
    Ok(page::respond(StatusCode::OK, body, Some(&nonce), Vec::new()))
}

/// A form's fields; 415 unless the body is `application/x-www-form-urlencoded`.
fn form(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let form_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form_type {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "form_required",
            "send the form as application/x-www-form-urlencoded",
        ));
    }
    Ok(url::form_urlencoded::parse(body).into_owned().collect())
}

fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// An admin whose form carries their session's CSRF token: 401 without credentials, 403 for a
/// non-admin or a missing or wrong CSRF token.
async fn checked_admin(state: &AdminState, headers: &HeaderMap, body: &[u8]) -> Result<Admin, PageError> {
    let admin = admin(state, headers)
        .await?
        .ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    let fields = form(headers, body)?;
    match field(&fields, "csrf") {
        Some(given) if same(&csrf_for(&admin.token), given) => Ok(admin),
        _ => Err(PageError::csrf()),
    }
}

fn see_other(to: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(to) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, to);
    }
    for cookie in cookies {
        response.headers_mut().append(axum::http::header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /admin/login` (`token`, `csrf`): with the sign-in form's CSRF value and an admin's
/// token, sets the session cookie and goes to the dashboard (303); otherwise the form again,
/// saying why (403 CSRF or not an admin, 401 an unknown or revoked token).
async fn login(State(state): State<AdminState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let fields = match form(&headers, &body) {
        Ok(fields) => fields,
        Err(e) => return PageError(e).into_response(),
    };
    let csrf_ok = matches!(
        (login_csrf(&headers), field(&fields, "csrf")),
        (Some(cookie), Some(given)) if same(cookie, given)
    );
    if !csrf_ok {
        return sign_in(
            &headers,
            StatusCode::FORBIDDEN,
            Some("The form expired or did not come from this page (CSRF): try again."),
            Vec::new(),
        );
    }
    let token = field(&fields, "token").unwrap_or_default().trim();
    let caller = match Caller::from_token(&state.api, token).await {
        Ok(caller) => caller,
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            return sign_in(
                &headers,
                StatusCode::UNAUTHORIZED,
                Some("That token is unknown or revoked."),
                Vec::new(),
            );
        }
        Err(e) => return PageError(e).into_response(),
    };
    if !caller.is_admin() {
        return sign_in(
            &headers,
            StatusCode::FORBIDDEN,
            Some("That token is not an admin's: the events dashboard is for admins."),
            Vec::new(),
        );
    }
    see_other(
        "/admin",
        vec![session_cookie(&headers, token), clear_login_csrf_cookie(&headers)],
    )
}

/// `POST /admin/logout` (`csrf`): clears the session cookie (the token itself stays valid;
/// `enteraksi user revoke` revokes it) and shows the sign-in form.
async fn logout(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    checked_admin(&state, &headers, &body).await?;
    Ok(see_other("/admin", vec![clear_session_cookie(&headers)]))
}

fn queue_error(e: QueueError) -> PageError {
    PageError(match e {
        QueueError::FailedJobNotFound(id) => ApiError::not_found(
            "failed_job_not_found",
            format!("no failed job with id `{id}` (retried or forgotten already?)"),
        ),
        e @ QueueError::NoListener { .. } => ApiError::conflict("listener_not_registered", e.to_string()),
        e @ QueueError::Database(_) => ApiError::internal(&e),
    })
}

fn done(what: &str, id: &str) -> Response {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    see_other(&format!("/admin?done={what}&job={id}#failed"), Vec::new())
}

/// `POST /admin/failed-jobs/{id}/retry` (`csrf`): puts the failed job back on its queue with a
/// fresh set of tries ([`Queue::retry`], as `queue retry`); 404 when it is no longer failed.
async fn retry(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    checked_admin(&state, &headers, &body).await?;
    Queue::new(state.api.bus.clone())
        .retry(&id)
        .await
        .map_err(queue_error)?;
    Ok(done("retried", &id))
}

/// `POST /admin/failed-jobs/{id}/forget` (`csrf`): deletes the failed job ([`Queue::forget`], as
/// `queue forget`); 404 when it is no longer failed.
async fn forget(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    checked_admin(&state, &headers, &body).await?;
    Queue::new(state.api.bus.clone())
        .forget(&id)
        .await
        .map_err(queue_error)?;
    Ok(done("forgotten", &id))
}
