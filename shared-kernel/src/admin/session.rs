//! Signing in to the dashboard: the session cookie (the admin's API token, HttpOnly,
//! SameSite=Strict), the CSRF tokens of its forms, and the sign-in form's own CSRF cookie.
//!
//! A session's CSRF token is an HMAC-SHA256 of a fixed label keyed with the session's API token:
//! the server needs to store nothing, every node derives the same value, and a page of another
//! site can neither read the cookie nor compute the token. Before signing in there is no token
//! yet, so the sign-in form is protected by a random double-submit value: the form carries it and
//! a SameSite=Strict cookie of its own must match.

use axum::http::{HeaderMap, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::http::{SESSION_COOKIE, cookie};

/// The sign-in form's CSRF cookie.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "enteraksi_login_csrf";

/// How long a session cookie lives in the browser (12 h); the token itself stays valid until
/// revoked, and a revoked token ends the session at once.
pub(crate) const SESSION_MAX_AGE_SECS: u64 = 12 * 60 * 60;

const CSRF_LABEL: &[u8] = b"enteraksi admin dashboard csrf v1";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The CSRF token of the forms of a session authenticated by `token`.
pub(crate) fn csrf_for(token: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(CSRF_LABEL);
    hex(&mac.finalize().into_bytes())
}

/// Whether `given` equals `expected`, in time that does not depend on where they differ.
pub(crate) fn same(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh random value for the sign-in form's CSRF cookie.
pub(crate) fn new_login_csrf() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

/// A fresh random nonce for the page's inline script (its Content-Security-Policy).
pub(crate) fn new_nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    hex(&bytes)
}

/// The sign-in form's CSRF cookie, if the browser sent it.
pub(crate) fn login_csrf(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, LOGIN_CSRF_COOKIE)
}

/// Whether the request came over HTTPS as far as a proxy in front says: cookies then get
/// `Secure` (over plain HTTP a browser would refuse to store them).
fn secure(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn set_cookie(headers: &HeaderMap, name: &str, value: &str, path: &str, max_age: u64) -> HeaderValue {
    let secure = if secure(headers) { "; Secure" } else { "" };
    // Tokens are `ek_` and hex; the CSRF value is hex: nothing to quote.
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("enteraksi_invalid=; Max-Age=0"))
}

/// `Set-Cookie` for a session of `token`. Path `/`: the SSE stream under `/api` reads it too.
pub(crate) fn session_cookie(headers: &HeaderMap, token: &str) -> HeaderValue {
    set_cookie(headers, SESSION_COOKIE, token, "/", SESSION_MAX_AGE_SECS)
}

/// `Set-Cookie` that ends the session in the browser.
pub(crate) fn clear_session_cookie(headers: &HeaderMap) -> HeaderValue {
    set_cookie(headers, SESSION_COOKIE, "", "/", 0)
}

/// `Set-Cookie` for the sign-in form's CSRF value (an hour to fill the form in).
pub(crate) fn login_csrf_cookie(headers: &HeaderMap, value: &str) -> HeaderValue {
    set_cookie(headers, LOGIN_CSRF_COOKIE, value, "/admin", 3600)
}

/// `Set-Cookie` that drops the sign-in form's CSRF value (after signing in).
pub(crate) fn clear_login_csrf_cookie(headers: &HeaderMap) -> HeaderValue {
    set_cookie(headers, LOGIN_CSRF_COOKIE, "", "/admin", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_csrf_token_depends_on_its_token_and_compares_exactly() {
        let a = csrf_for("ek_a");
        assert_eq!(a, csrf_for("ek_a"));
        assert_ne!(a, csrf_for("ek_b"));
        assert_eq!(a.len(), 64);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &a[..63]));
        assert!(!same(&a, ""));
    }

    #[test]
    fn cookies_are_http_only_and_strict_and_secure_behind_https() {
        let plain = HeaderMap::new();
        let cookie = session_cookie(&plain, "ek_x");
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.starts_with("enteraksi_session=ek_x; Path=/;"), "{cookie}");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(!cookie.contains("Secure"), "{cookie}");
        let mut https = HeaderMap::new();
        https.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(session_cookie(&https, "ek_x").to_str().unwrap().ends_with("; Secure"));
        assert!(clear_session_cookie(&plain).to_str().unwrap().contains("Max-Age=0"));
    }
}
