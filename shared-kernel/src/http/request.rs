//! The request context: every request gets an id (`x-request-id`, generated when absent, echoed
//! back) and a correlation id (`x-correlation-id`): the request id when it is a UUID, a new one
//! otherwise. Every unit of work the request begins joins that correlation, so
//! `enteraksi audit --correlation <id>` shows everything one request set off.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::bus::in_correlation;
use crate::ids::CorrelationId;

/// The request id header.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The correlation id header of every response.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Middleware (`axum::middleware::from_fn(request_context)`): see the module docs.
pub async fn request_context(mut request: Request, next: Next) -> Response {
    let sent = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_owned);
    let correlation = sent
        .as_deref()
        .and_then(|id| uuid::Uuid::parse_str(id).ok())
        .map(CorrelationId::from_uuid)
        .unwrap_or_else(|| CorrelationId::from_uuid(uuid::Uuid::now_v7()));
    let request_id = sent.unwrap_or_else(|| correlation.to_string());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        request.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let span = tracing::info_span!("request", request_id = %request_id, correlation_id = %correlation);
    let mut response = tracing::Instrument::instrument(in_correlation(correlation, next.run(request)), span).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if let Ok(value) = HeaderValue::from_str(&correlation.to_string()) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}

/// `uri`'s path and query with the value of any `token` parameter replaced by `***`, for logs and
/// traces (a browser's `EventSource` can only send its API token in the query).
pub fn redacted_uri(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("token") => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

#[cfg(test)]
mod redaction_tests {
    use super::redacted_uri;

    #[test]
    fn the_token_parameter_never_reaches_a_log() {
        let uri = "/api/broadcasting/stream?channels=courses&token=secret-value&x=1"
            .parse()
            .unwrap();
        assert_eq!(
            redacted_uri(&uri),
            "/api/broadcasting/stream?channels=courses&token=***&x=1"
        );
        let uri = "/api/courses".parse().unwrap();
        assert_eq!(redacted_uri(&uri), "/api/courses");
        let uri = "/s?TOKEN=a&token".parse().unwrap();
        assert_eq!(redacted_uri(&uri), "/s?TOKEN=***&token");
    }
}
