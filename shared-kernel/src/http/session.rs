//! The browser session of the events dashboard: a cookie that carries the API token the admin
//! signed in with, read wherever a browser page of this site may call (the dashboard, the SSE
//! stream). The token in it is checked like a bearer token on every request, so revoking it ends
//! the session at the next request. Issuing and clearing the cookie is the dashboard's
//! ([`crate::admin`]).

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The session cookie's name. HttpOnly (no script reads it) and SameSite=Strict (a browser sends
/// it only with requests from this site's own pages, never from another site's form or link).
pub const SESSION_COOKIE: &str = "enteraksi_session";

/// The value of cookie `name` in the request's `Cookie` headers, if present and not empty.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// The API token of the dashboard session cookie, if the request carries one.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn a_cookie_is_found_by_its_exact_name_among_others_and_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("theme=dark; xenteraksi_session=no"));
        headers.append(COOKIE, HeaderValue::from_static("a=1;enteraksi_session=ek_abc ; b=2"));
        assert_eq!(session_token(&headers), Some("ek_abc"));
        assert_eq!(cookie(&headers, "theme"), Some("dark"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn an_empty_session_cookie_is_no_session() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("enteraksi_session="));
        assert_eq!(session_token(&headers), None);
    }
}
