//! Webhooks: external endpoints that receive the events they subscribe to, over HTTP, signed per
//! the [Standard Webhooks](https://www.standardwebhooks.com/) spec.
//!
//! * An endpoint is registered with a URL, the event names it wants and a random secret
//!   (`whsec_` + base64 of 32 bytes), shown once. Its URL must be `http`/`https`, and its host
//!   must resolve to public addresses only — loopback, private, link-local, unique-local and
//!   similar ranges are refused unless the endpoint is registered with `allow_private` (a guard
//!   against server-side request forgery). The check runs again at each delivery, and the
//!   request goes to the addresses that check resolved, with redirects off.
//! * [`FanOutWebhooks`], a queued wildcard listener, looks up each event's subscribed endpoints
//!   and enqueues one [`DeliverWebhook`] job per endpoint in its own transaction: each endpoint
//!   is delivered, retried and failed on its own. The job's identity, `msg_<event>_<endpoint>`,
//!   is also the `webhook-id` header, the same on every retry, so receivers can deduplicate.
//! * A delivery runs with no transaction open; a 2xx is recorded in `webhook_deliveries` with
//!   the job's acknowledgement; a failure is recorded with one statement and retried per the
//!   job's [`QueueOptions`](crate::QueueOptions) (a `Retry-After` answer sets the wait), except a
//!   4xx other than 408 and 429, which fails at once (`failed_jobs`).
//!
//! Deliveries are at least once: a receiver that answered 2xx after the process died, before
//! the acknowledgement committed, gets the message again with the same `webhook-id`.

mod delivery;
pub mod http;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::AnyConnection;
use url::Host;

pub use delivery::{DeliverWebhook, DeliveryJob, FanOutWebhooks, WEBHOOK_QUEUE, webhook_queue_options};

use crate::clock::to_db_text;
use crate::ids::{EventId, WebhookEndpointId};

/// What can go wrong registering or managing an endpoint.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL does not parse, is not `http`/`https`, or has no host. Maps to 422 `invalid_url`.
    #[error("invalid webhook URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The host is or resolves to a loopback, private or link-local address and `allow_private`
    /// was not given. Maps to 422 `private_address`.
    #[error("webhook URL `{url}` points to a non-public address ({address}); pass allow_private to allow it")]
    PrivateAddress {
        /// The URL given.
        url: String,
        /// The refused address.
        address: IpAddr,
    },
    /// The host name does not resolve. Maps to 422 `unresolvable_host`.
    #[error("the host of webhook URL `{url}` does not resolve: {reason}")]
    Unresolvable {
        /// The URL given.
        url: String,
        /// The resolver's answer.
        reason: String,
    },
    /// No event name, or one that is not an event of this system. Maps to 422 `invalid_events`.
    #[error("invalid webhook events: {0}")]
    InvalidEvents(String),
    /// No active endpoint has this id. Maps to 404 `webhook_not_found`.
    #[error("no webhook endpoint with id {0}")]
    NotFound(WebhookEndpointId),
    /// The database failed. Maps to 500; the text is for logs.
    #[error("webhook storage failed")]
    Database(#[from] sqlx::Error),
}

/// A webhook URL that passed the checks: `http`/`https`, with a host that resolves to allowed
/// addresses (public ones, or any with `allow_private`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: url::Url,
    addresses: Vec<SocketAddr>,
}

impl WebhookUrl {
    /// Parses `text` and resolves its host; see the module docs for what is refused.
    pub async fn parse(text: &str, allow_private: bool) -> Result<Self, WebhookError> {
        let invalid = |reason: &str| WebhookError::InvalidUrl {
            url: text.to_owned(),
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(text.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http and https URLs are accepted"));
        }
        let port = url.port_or_known_default().ok_or_else(|| invalid("it has no port"))?;
        let addresses: Vec<SocketAddr> = match url.host() {
            None => return Err(invalid("it has no host")),
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(Host::Domain(name)) => tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| WebhookError::Unresolvable {
                    url: text.to_owned(),
                    reason: e.to_string(),
                })?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(WebhookError::Unresolvable {
                url: text.to_owned(),
                reason: "no address".to_owned(),
            });
        }
        if !allow_private && let Some(bad) = addresses.iter().find(|a| !is_public(a.ip())) {
            return Err(WebhookError::PrivateAddress {
                url: text.to_owned(),
                address: bad.ip(),
            });
        }
        Ok(Self { url, addresses })
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The addresses its host resolved to when it was checked.
    pub(crate) fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// The host as a name (for pinning it to the checked addresses), if it is one.
    pub(crate) fn domain(&self) -> Option<&str> {
        self.url.domain()
    }
}

/// Whether `ip` is an ordinary public address: not loopback, private, link-local, unique-local,
/// shared (CGNAT), unspecified, broadcast, multicast or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link local, fe80::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || ip.segments()[..6].iter().all(|s| *s == 0)) // IPv4-compatible (deprecated)
}

/// The event names an endpoint subscribes to: at least one, each an event of this system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventNames(Vec<String>);

impl EventNames {
    /// Parses a comma-separated list, each name one of `known`.
    pub fn parse(text: &str, known: &[&str]) -> Result<Self, WebhookError> {
        let mut names: Vec<String> = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !known.contains(&name) {
                return Err(WebhookError::InvalidEvents(format!(
                    "`{name}` is not an event; the events are {}",
                    known.join(", ")
                )));
            }
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
        if names.is_empty() {
            return Err(WebhookError::InvalidEvents("name at least one event".to_owned()));
        }
        Ok(Self(names))
    }

    /// The names, in the order given.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    fn stored(&self) -> String {
        format!(",{},", self.0.join(","))
    }
}

/// An endpoint's signing secret: `whsec_` + base64 of the key.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookSecret {
    const PREFIX: &'static str = "whsec_";

    /// A new random secret of 32 bytes.
    pub fn generate() -> Self {
        let key: [u8; 32] = rand::random();
        Self(format!("{}{}", Self::PREFIX, BASE64.encode(key)))
    }

    /// A secret as stored or shown (`whsec_…`; the prefix is optional, as the spec allows).
    pub fn from_text(text: &str) -> Self {
        if text.starts_with(Self::PREFIX) {
            Self(text.to_owned())
        } else {
            Self(format!("{}{text}", Self::PREFIX))
        }
    }

    /// The secret as shown once to the endpoint's owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The HMAC key: the base64-decoded part after `whsec_` (the whole text if it is not base64).
    fn key(&self) -> Vec<u8> {
        let encoded = &self.0[Self::PREFIX.len()..];
        BASE64.decode(encoded).unwrap_or_else(|_| encoded.as_bytes().to_vec())
    }

    /// The `webhook-signature` header value: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
    pub fn sign(&self, webhook_id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC takes a key of any length");
        mac.update(format!("{webhook_id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-id` of `event` at `endpoint`: the same on every retry.
pub fn webhook_id(event: EventId, endpoint: WebhookEndpointId) -> String {
    format!("msg_{}_{}", event.as_uuid().simple(), endpoint.as_uuid().simple())
}

/// A registered endpoint as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    /// Its id.
    pub id: WebhookEndpointId,
    /// Where events are posted.
    pub url: String,
    /// The event names it receives.
    pub events: Vec<String>,
    /// Whether non-public addresses were allowed for it.
    pub allow_private: bool,
    /// When it was registered.
    pub created_at: String,
    /// The last delivery's outcome, if any: `delivered`, `retrying` or `failed`.
    pub last_status: Option<String>,
    /// The receiver's HTTP status in the last delivery, if it answered.
    pub last_response_status: Option<i64>,
    /// When the last delivery was tried.
    pub last_delivery_at: Option<String>,
}

/// Registers an endpoint; returns its id and its secret (to show once).
#[tracing::instrument(name = "register a webhook endpoint", skip(conn, url, events), fields(url = url.as_str()))]
pub async fn add_endpoint(
    conn: &mut AnyConnection,
    url: &WebhookUrl,
    events: &EventNames,
    allow_private: bool,
    now: DateTime<Utc>,
) -> Result<(WebhookEndpointId, WebhookSecret), WebhookError> {
    let id = WebhookEndpointId::new();
    let secret = WebhookSecret::generate();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, events, secret, allow_private, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(url.as_str().to_owned())
    .bind(events.stored())
    .bind(secret.expose().to_owned())
    .bind(i64::from(allow_private))
    .bind(to_db_text(now))
    .execute(conn)
    .await?;
    Ok((id, secret))
}

/// The active endpoints, oldest first, each with its last delivery.
#[tracing::instrument(name = "list the webhook endpoints", skip(conn))]
pub async fn list_endpoints(conn: &mut AnyConnection) -> Result<Vec<Endpoint>, WebhookError> {
    type Row = (
        String,
        String,
        String,
        i64,
        String,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT e.id, e.url, e.events, e.allow_private, e.created_at, d.status, d.response_status, d.updated_at \
         FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id AND d.updated_at = \
           (SELECT MAX(updated_at) FROM webhook_deliveries WHERE endpoint_id = e.id) \
         WHERE e.removed_at IS NULL ORDER BY e.created_at, e.id",
    )
    .fetch_all(conn)
    .await?;
    let mut endpoints: Vec<Endpoint> = Vec::with_capacity(rows.len());
    for (id, url, events, allow_private, created_at, status, response, at) in rows {
        let Ok(id) = WebhookEndpointId::parse(&id) else {
            continue;
        };
        // Two deliveries updated in the same microsecond: keep one.
        if endpoints.last().is_some_and(|e| e.id == id) {
            continue;
        }
        endpoints.push(Endpoint {
            id,
            url,
            events: events.split(',').filter(|n| !n.is_empty()).map(str::to_owned).collect(),
            allow_private: allow_private != 0,
            created_at,
            last_status: status,
            last_response_status: response,
            last_delivery_at: at,
        });
    }
    Ok(endpoints)
}

/// Removes an active endpoint: no delivery is made to it from now on (queued ones are dropped).
#[tracing::instrument(name = "remove a webhook endpoint", skip(conn, now))]
pub async fn remove_endpoint(
    conn: &mut AnyConnection,
    id: WebhookEndpointId,
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    let removed = sqlx::query("UPDATE webhook_endpoints SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL")
        .bind(to_db_text(now))
        .bind(id.to_string())
        .execute(conn)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(WebhookError::NotFound(id));
    }
    Ok(())
}

/// Gives an active endpoint a new secret (returned, to show once); deliveries from now on,
/// retries included, are signed with it.
#[tracing::instrument(name = "rotate a webhook secret", skip(conn))]
pub async fn rotate_secret(conn: &mut AnyConnection, id: WebhookEndpointId) -> Result<WebhookSecret, WebhookError> {
    let secret = WebhookSecret::generate();
    let updated = sqlx::query("UPDATE webhook_endpoints SET secret = $1 WHERE id = $2 AND removed_at IS NULL")
        .bind(secret.expose().to_owned())
        .bind(id.to_string())
        .execute(conn)
        .await?
        .rows_affected();
    if updated == 0 {
        return Err(WebhookError::NotFound(id));
    }
    Ok(secret)
}

/// The ids of the active endpoints subscribed to `event_name`.
#[tracing::instrument(name = "find the endpoints subscribed to an event", skip(conn))]
pub(crate) async fn subscribed_to(
    conn: &mut AnyConnection,
    event_name: &str,
) -> Result<Vec<WebhookEndpointId>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM webhook_endpoints WHERE removed_at IS NULL AND events LIKE $1 ORDER BY created_at, id",
    )
    .bind(format!("%,{event_name},%"))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id,)| WebhookEndpointId::parse(&id).ok())
        .collect())
}

/// What a delivery needs of an active endpoint.
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) secret: WebhookSecret,
    pub(crate) allow_private: bool,
}

/// The active endpoint `id`, if it is still registered.
#[tracing::instrument(name = "load a webhook endpoint", skip(conn))]
pub(crate) async fn target(conn: &mut AnyConnection, id: WebhookEndpointId) -> Result<Option<Target>, sqlx::Error> {
    let row: Option<(String, String, i64)> =
        sqlx::query_as("SELECT url, secret, allow_private FROM webhook_endpoints WHERE id = $1 AND removed_at IS NULL")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(url, secret, allow_private)| Target {
        url,
        secret: WebhookSecret::from_text(&secret),
        allow_private: allow_private != 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn refused(url: &str) -> bool {
        matches!(
            WebhookUrl::parse(url, false).await,
            Err(WebhookError::PrivateAddress { .. })
        )
    }

    #[tokio::test]
    async fn loopback_private_and_link_local_addresses_are_refused() {
        for url in [
            "http://127.0.0.1/hook",
            "http://127.1.2.3:8080/hook",
            "http://10.0.0.8/hook",
            "http://172.16.4.1/hook",
            "http://192.168.1.10/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/hook",
            "http://0.0.0.0/hook",
            "http://[::1]/hook",
            "http://[fc00::1]/hook",
            "http://[fd12:3456::1]/hook",
            "http://[fe80::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://[::ffff:10.1.2.3]/hook",
            "http://localhost:9/hook",
        ] {
            assert!(refused(url).await, "{url} should be refused");
        }
    }

    #[tokio::test]
    async fn private_addresses_are_accepted_with_allow_private() {
        for url in ["http://127.0.0.1:9/hook", "http://10.0.0.8/hook", "https://[::1]/hook"] {
            let parsed = WebhookUrl::parse(url, true).await.unwrap();
            assert_eq!(parsed.addresses().len(), 1);
        }
    }

    #[tokio::test]
    async fn public_addresses_are_accepted() {
        let url = WebhookUrl::parse("https://93.184.215.14/hooks/lms", false)
            .await
            .unwrap();
        assert_eq!(url.as_str(), "https://93.184.215.14/hooks/lms");
        assert!(WebhookUrl::parse("http://[2606:4700::1111]/", false).await.is_ok());
    }

    #[tokio::test]
    async fn only_http_and_https_urls_are_accepted() {
        for url in [
            "ftp://93.184.215.14/x",
            "file:///etc/passwd",
            "gopher://93.184.215.14/",
            "not a url",
            "http://",
        ] {
            assert!(
                matches!(WebhookUrl::parse(url, true).await, Err(WebhookError::InvalidUrl { .. })),
                "{url} should be invalid"
            );
        }
    }

    #[test]
    fn public_and_non_public_addresses_are_told_apart() {
        assert!(is_public("8.8.8.8".parse().unwrap()));
        assert!(is_public("2001:4860:4860::8888".parse().unwrap()));
        assert!(!is_public("192.168.0.1".parse().unwrap()));
        assert!(!is_public("fe80::1".parse().unwrap()));
        assert!(!is_public("ff02::1".parse().unwrap()));
    }

    #[test]
    fn the_signature_matches_the_standard_webhooks_test_vector() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let secret = WebhookSecret::from_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, r#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_generated_secret_has_32_random_bytes_and_the_whsec_prefix() {
        let a = WebhookSecret::generate();
        assert!(a.expose().starts_with("whsec_"));
        assert_eq!(a.key().len(), 32);
        assert_ne!(a, WebhookSecret::generate());
        assert_eq!(format!("{a:?}"), "WebhookSecret(***)");
    }

    #[test]
    fn event_names_must_be_known_and_at_least_one() {
        let known = ["enrollment.created", "enrollment.completed"];
        let names = EventNames::parse(" enrollment.created,enrollment.completed,enrollment.created", &known).unwrap();
        assert_eq!(names.names(), ["enrollment.created", "enrollment.completed"]);
        assert_eq!(names.stored(), ",enrollment.created,enrollment.completed,");
        assert!(matches!(
            EventNames::parse("", &known),
            Err(WebhookError::InvalidEvents(_))
        ));
        assert!(matches!(
            EventNames::parse("course.nope", &known),
            Err(WebhookError::InvalidEvents(_))
        ));
    }

    #[test]
    fn the_webhook_id_is_stable_per_event_and_endpoint() {
        let (event, endpoint) = (EventId::new(), WebhookEndpointId::new());
        assert_eq!(webhook_id(event, endpoint), webhook_id(event, endpoint));
        assert_ne!(webhook_id(event, endpoint), webhook_id(event, WebhookEndpointId::new()));
        assert!(webhook_id(event, endpoint).starts_with("msg_"));
    }
}
