//! Integrations: external systems the kernel feeds with events, apart from any context.
//!
//! * [`webhooks`]: HTTP endpoints subscribed to event names, signed per Standard Webhooks.
//! * [`xapi`]: learning records as xAPI 1.0.3 statements, posted to a learning record store.
//!
//! Both post over HTTP from queued jobs and share the client setup and the reading of a
//! `Retry-After` answer below.

pub mod webhooks;
pub mod xapi;

use std::time::Duration;

/// The longest `Retry-After` honoured; a receiver asking for more is retried after this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);

/// The HTTP client every integration starts from: each request cut off after `timeout`,
/// redirects not followed (a receiver cannot bounce a request, with its credentials, to
/// another host), and `agent` as the user agent.
pub(crate) fn http_client(timeout: Duration, agent: &'static str) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(agent)
}

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP date.
pub(crate) fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "120".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
        headers.insert("retry-after", "Thu, 01 Jan 2026 00:01:30 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(90)));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }
}
