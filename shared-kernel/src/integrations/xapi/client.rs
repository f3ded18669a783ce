//! The client of a learning record store's Statements resource: one batch per POST,
//! all-or-nothing at the LRS, and [`LrsClient::post_bisecting`] to find the statement that made
//! the LRS refuse a batch.

use std::time::Duration;

use uuid::Uuid;

use super::Statement;
use crate::integrations::{MAX_RETRY_AFTER, http_client, retry_after};

/// The xAPI version every request declares.
pub const XAPI_VERSION: &str = "1.0.3";

/// What can be wrong with the LRS settings.
#[derive(Debug, thiserror::Error)]
pub enum LrsConfigError {
    /// `XAPI_LRS_URL` does not parse as an `http`/`https` URL with a host.
    #[error("`{url}` is not an http:// or https:// URL of an LRS: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The URL is set but the key or the secret is not.
    #[error("XAPI_LRS_KEY and XAPI_LRS_SECRET must both be set with XAPI_LRS_URL")]
    MissingCredentials,
    /// The HTTP client could not be built (e.g. no TLS roots).
    #[error("the HTTP client for the LRS cannot be built")]
    Client(#[source] reqwest::Error),
}

/// Where statements go: the LRS's Statements resource (its base IRI + `statements`) and the
/// Basic credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct LrsEndpoint {
    statements: url::Url,
    key: String,
    secret: String,
}

impl std::fmt::Debug for LrsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LrsEndpoint")
            .field("statements", &self.statements.as_str())
            .field("key", &self.key)
            .field("secret", &"***")
            .finish()
    }
}

impl LrsEndpoint {
    /// The LRS at base IRI `base` (e.g. `http://lrs.example/xAPI/`, with or without the trailing
    /// slash), authenticated with `key` and `secret`.
    ///
    /// # Errors
    /// [`LrsConfigError::InvalidUrl`] for a URL that is not `http`/`https` with a host, or that
    /// carries a query or fragment; [`LrsConfigError::MissingCredentials`] for an empty key or
    /// secret.
    pub fn parse(base: &str, key: &str, secret: &str) -> Result<Self, LrsConfigError> {
        let invalid = |reason: &str| LrsConfigError::InvalidUrl {
            url: base.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = base.trim();
        let url = url::Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http and https are accepted"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a base IRI has no query or fragment"));
        }
        if key.is_empty() || secret.is_empty() {
            return Err(LrsConfigError::MissingCredentials);
        }
        let statements = url::Url::parse(&format!("{}/statements", trimmed.trim_end_matches('/')))
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(Self {
            statements,
            key: key.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The Statements resource statements are posted to.
    pub fn statements_url(&self) -> &str {
        self.statements.as_str()
    }
}

/// How a POST of one batch failed. Nothing of the batch is stored in any case: an LRS
/// stores a batch whole or not at all.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// No answer: refused connection, timeout, broken TLS. Retried.
    #[error("the LRS could not be reached")]
    Unreachable(#[source] reqwest::Error),
    /// 400, 413 or 422: the LRS refused the batch's content. A batch of several is split to
    /// find the statement at fault ([`LrsClient::post_bisecting`]); one statement refused is a
    /// permanent failure.
    #[error("the LRS rejected the statements ({status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The LRS's message (its body, shortened).
        message: String,
    },
    /// Another 4xx but 408 and 429: bad credentials (401, 403), a wrong URL (404), a statement
    /// id it holds with other content (409). No retry fixes it: permanent.
    #[error("the LRS refused the request ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The LRS's message.
        message: String,
    },
    /// 5xx, 408 or 429: the LRS is there but cannot take it now. Retried, after the wait it
    /// asks for if it names one.
    #[error("the LRS is unavailable ({status}): {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// The LRS's message.
        message: String,
        /// Its `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
}

impl PostError {
    /// Whether a later try may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Unavailable { .. })
    }

    /// The HTTP status the LRS answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unreachable(_) => None,
            Self::Rejected { status, .. } | Self::Refused { status, .. } | Self::Unavailable { status, .. } => {
                Some(*status)
            }
        }
    }
}

/// A statement the LRS refused on its own (a batch of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedStatement {
    /// The statement's id.
    pub id: Uuid,
    /// The LRS's status (400, 413 or 422).
    pub status: u16,
    /// The LRS's message.
    pub message: String,
}

/// What [`LrsClient::post_bisecting`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Statements in batches the LRS accepted (stored, or already held with the same content).
    pub accepted: usize,
    /// Statements it refused, each alone.
    pub rejected: Vec<RejectedStatement>,
    /// POST requests made.
    pub requests: usize,
}

/// Posts statements to one LRS. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct LrsClient {
    endpoint: LrsEndpoint,
    http: reqwest::Client,
}

/// The longest LRS message kept (in `failed_jobs` and logs).
const MAX_MESSAGE: usize = 1000;

impl LrsClient {
    /// A client of `endpoint` whose requests are cut off after `timeout`.
    ///
    /// # Errors
    /// [`LrsConfigError::Client`] when the HTTP client cannot be built.
    pub fn new(endpoint: LrsEndpoint, timeout: Duration) -> Result<Self, LrsConfigError> {
        let http = http_client(timeout, concat!("Enteraksi-xAPI/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(LrsConfigError::Client)?;
        Ok(Self { endpoint, http })
    }

    /// The LRS posted to.
    pub fn endpoint(&self) -> &LrsEndpoint {
        &self.endpoint
    }

    /// POSTs `statements` as one batch (a JSON array). An LRS answers 200 with the ids stored,
    /// or 204 when it held every one already with the same content: both are success.
    ///
    /// # Errors
    /// [`PostError`]: how the LRS refused, or that it could not be reached.
    pub async fn post(&self, statements: &[Statement]) -> Result<(), PostError> {
        let body = serde_json::to_vec(statements).expect("statements always serialize");
        let response = self
            .http
            .post(self.endpoint.statements.clone())
            .basic_auth(&self.endpoint.key, Some(&self.endpoint.secret))
            .header("X-Experience-API-Version", XAPI_VERSION)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(PostError::Unreachable)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16();
        let wait = retry_after(response.headers(), chrono::Utc::now()).map(|w| w.min(MAX_RETRY_AFTER));
        let mut message = response.text().await.unwrap_or_default();
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        Err(match code {
            400 | 413 | 422 => PostError::Rejected { status: code, message },
            408 | 429 => PostError::Unavailable {
                status: code,
                message,
                retry_after: wait,
            },
            _ if status.is_client_error() => PostError::Refused { status: code, message },
            _ => PostError::Unavailable {
                status: code,
                message,
                retry_after: wait,
            },
        })
    }

    /// POSTs `statements` as one batch; a batch the LRS rejects ([`PostError::Rejected`]) is
    /// split in halves, each posted in turn, until every refused statement is found alone.
    /// The others are stored: n statements with one bad cost about 2·log2(n) extra requests.
    /// Re-posting after a failure is safe: the LRS answers an id it holds with the same content
    /// as a success and stores nothing.
    ///
    /// # Errors
    /// Any [`PostError`] other than a rejection stops at once (the batches before it are
    /// stored): the LRS is unreachable, unavailable or refuses the request itself.
    pub async fn post_bisecting(&self, statements: &[Statement]) -> Result<BatchReport, PostError> {
        let mut report = BatchReport::default();
        let mut pending: Vec<&[Statement]> = vec![statements];
        while let Some(batch) = pending.pop() {
            if batch.is_empty() {
                continue;
            }
            report.requests += 1;
            match self.post(batch).await {
                Ok(()) => report.accepted += batch.len(),
                Err(PostError::Rejected { status, message }) => {
                    if let [only] = batch {
                        report.rejected.push(RejectedStatement {
                            id: only.id(),
                            status,
                            message,
                        });
                    } else {
                        let (first, second) = batch.split_at(batch.len() / 2);
                        // Popped first-half first, so statements are posted in their order.
                        pending.push(second);
                        pending.push(first);
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::bus::EventMeta;
    use crate::ids::{CorrelationId, EventId, UserId};
    use crate::integrations::xapi::{ActivityKind, Verb, XapiProfile};

    /// What the fake LRS saw: each request's statement ids, and the ids it stored.
    #[derive(Default)]
    struct Seen {
        requests: Vec<Vec<String>>,
        stored: Vec<String>,
        auth: Vec<String>,
    }

    /// A fake LRS on loopback that rejects, with 400 and a message naming it, any batch holding
    /// a statement whose id is in `bad`, and answers `status` instead when it is set.
    async fn fake_lrs(bad: Vec<Uuid>, status: Option<u16>) -> (String, Arc<Mutex<Seen>>) {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let sink = seen.clone();
        let app = axum::Router::new().route(
            "/xAPI/statements",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (sink, bad) = (sink.clone(), bad.clone());
                async move {
                    let batch: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
                    let ids: Vec<String> = batch.iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
                    let mut seen = sink.lock().unwrap();
                    seen.requests.push(ids.clone());
                    let version = headers
                        .get("x-experience-api-version")
                        .map(|v| v.to_str().unwrap().to_owned());
                    assert_eq!(version.as_deref(), Some(XAPI_VERSION));
                    seen.auth.push(headers["authorization"].to_str().unwrap().to_owned());
                    if let Some(code) = status {
                        return (axum::http::StatusCode::from_u16(code).unwrap(), "not now".to_owned());
                    }
                    if let Some(b) = ids.iter().find(|id| bad.iter().any(|x| x.to_string() == **id)) {
                        return (
                            axum::http::StatusCode::BAD_REQUEST,
                            format!("statement {b}: verb.id is not an IRI"),
                        );
                    }
                    seen.stored.extend(ids);
                    (axum::http::StatusCode::OK, "[]".to_owned())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{address}/xAPI/"), seen)
    }

    fn statements(n: usize) -> Vec<Statement> {
        let profile = XapiProfile::new("https://lms.example");
        (0..n)
            .map(|i| {
                let meta = EventMeta::new(EventId::new(), chrono::Utc::now(), None, CorrelationId::new(), None);
                Statement::new(
                    &meta,
                    profile.actor(UserId::new()),
                    Verb::COMPLETED,
                    profile.activity(ActivityKind::Lesson, i, "Lesson"),
                )
            })
            .collect()
    }

    fn client(base: &str) -> LrsClient {
        LrsClient::new(
            LrsEndpoint::parse(base, "key", "secret").unwrap(),
            Duration::from_secs(5),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_batch_rejected_with_400_is_split_until_the_bad_statement_is_found_alone() {
        // Arrange: 16 statements, the 11th of which the LRS refuses.
        let batch = statements(16);
        let bad = batch[10].id();
        let (base, seen) = fake_lrs(vec![bad], None).await;

        // Act
        let report = client(&base).post_bisecting(&batch).await.unwrap();

        // Assert: every other statement stored once, in order; the bad one named with the
        // LRS's message; a handful of requests, not one per statement.
        assert_eq!(report.accepted, 15);
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].id, bad);
        assert_eq!(report.rejected[0].status, 400);
        assert!(
            report.rejected[0].message.contains("verb.id is not an IRI"),
            "{:?}",
            report.rejected
        );
        let seen = seen.lock().unwrap();
        let expected: Vec<String> = batch
            .iter()
            .filter(|s| s.id() != bad)
            .map(|s| s.id().to_string())
            .collect();
        assert_eq!(seen.stored, expected);
        assert_eq!(seen.requests[0].len(), 16, "the whole batch is tried first");
        assert_eq!(report.requests, seen.requests.len());
        assert!(report.requests <= 1 + 2 * 4, "{} requests", report.requests);
        assert!(
            seen.auth.iter().all(|a| a == "Basic a2V5OnNlY3JldA=="),
            "Basic key:secret"
        );
    }

    #[tokio::test]
    async fn two_bad_statements_are_both_found_and_a_good_batch_is_one_request() {
        let batch = statements(7);
        let (base, seen) = fake_lrs(vec![batch[0].id(), batch[6].id()], None).await;
        let report = client(&base).post_bisecting(&batch).await.unwrap();
        assert_eq!(report.accepted, 5);
        let rejected: Vec<Uuid> = report.rejected.iter().map(|r| r.id).collect();
        assert_eq!(rejected, [batch[0].id(), batch[6].id()]);
        assert_eq!(seen.lock().unwrap().stored.len(), 5);

        let good = statements(3);
        let report = client(&base).post_bisecting(&good).await.unwrap();
        assert_eq!((report.accepted, report.requests), (3, 1));
    }

    #[tokio::test]
    async fn an_unavailable_lrs_stops_the_batch_as_retryable_and_bad_credentials_are_refused() {
        let batch = statements(4);
        let (base, seen) = fake_lrs(Vec::new(), Some(503)).await;
        let err = client(&base).post_bisecting(&batch).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert_eq!(err.status(), Some(503));
        assert_eq!(seen.lock().unwrap().requests.len(), 1, "no split on a 503");

        let (base, _) = fake_lrs(Vec::new(), Some(401)).await;
        let err = client(&base).post(&batch).await.unwrap_err();
        assert!(matches!(err, PostError::Refused { status: 401, .. }), "{err}");
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/xAPI", listener.local_addr().unwrap());
        drop(listener);
        let err = client(&base).post(&statements(1)).await.unwrap_err();
        assert!(matches!(err, PostError::Unreachable(_)), "{err}");
        assert!(err.is_retryable());
    }

    #[test]
    fn the_statements_resource_is_the_base_iri_plus_statements_with_or_without_a_slash() {
        for base in [
            "http://lrs.example/xAPI/",
            "http://lrs.example/xAPI",
            " http://lrs.example/xAPI// ",
        ] {
            let endpoint = LrsEndpoint::parse(base, "k", "s").unwrap();
            assert_eq!(
                endpoint.statements_url(),
                "http://lrs.example/xAPI/statements",
                "{base}"
            );
        }
        let endpoint = LrsEndpoint::parse("https://lrs.example", "k", "s").unwrap();
        assert_eq!(endpoint.statements_url(), "https://lrs.example/statements");
    }

    #[test]
    fn bad_lrs_settings_are_refused_with_the_reason() {
        for base in [
            "lrs.example/xAPI",
            "ftp://lrs.example/",
            "http://",
            "http://lrs.example/x?a=1",
        ] {
            assert!(
                matches!(
                    LrsEndpoint::parse(base, "k", "s"),
                    Err(LrsConfigError::InvalidUrl { .. })
                ),
                "{base}"
            );
        }
        assert!(matches!(
            LrsEndpoint::parse("http://lrs.example/", "", "s"),
            Err(LrsConfigError::MissingCredentials)
        ));
        assert!(matches!(
            LrsEndpoint::parse("http://lrs.example/", "k", ""),
            Err(LrsConfigError::MissingCredentials)
        ));
    }

    #[test]
    fn the_secret_is_never_shown() {
        let endpoint = LrsEndpoint::parse("http://lrs.example/", "key", "hunter2").unwrap();
        assert!(!format!("{endpoint:?}").contains("hunter2"));
    }

    #[test]
    fn only_unreachable_and_unavailable_are_retried() {
        let unavailable = PostError::Unavailable {
            status: 503,
            message: String::new(),
            retry_after: None,
        };
        assert!(unavailable.is_retryable());
        assert!(
            !PostError::Rejected {
                status: 400,
                message: String::new()
            }
            .is_retryable()
        );
        assert!(
            !PostError::Refused {
                status: 409,
                message: String::new()
            }
            .is_retryable()
        );
    }
}
