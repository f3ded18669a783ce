//! The two queued steps of a webhook: [`FanOutWebhooks`] (one job per event: which endpoints want
//! it) and [`DeliverWebhook`] (one job per event and endpoint: the signed POST). See the module
//! docs of [`webhooks`](super).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{WebhookError, WebhookUrl, subscribed_to, target, webhook_id};
use crate::QueueOptions;
use crate::bus::{JobContext, JobFailure, JobHandler, JsonEvent, ListenerError, WildcardQueuedListener};
use crate::clock::to_db_text;
use crate::ids::{EventId, WebhookEndpointId};
use crate::integrations::{MAX_RETRY_AFTER, http_client, retry_after};

/// The queue both steps run on.
pub const WEBHOOK_QUEUE: &str = "webhooks";

/// How deliveries run: queue `webhooks`, 8 tries over about a day (10 s, 1 min, 5 min, 30 min,
/// 2 h, 6 h, 12 h, ±20 %), each try allowed `http_timeout` plus time to resolve and record.
pub fn webhook_queue_options(http_timeout: Duration) -> QueueOptions {
    QueueOptions::on(WEBHOOK_QUEUE)
        .tries(8)
        .backoff([10, 60, 300, 1800, 7200, 21_600, 43_200].map(Duration::from_secs))
        .timeout(http_timeout + Duration::from_secs(30))
}

/// A delivery job's payload. The body is rendered once, when the event is fanned out, so every
/// try sends the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    /// The endpoint.
    pub endpoint_id: WebhookEndpointId,
    /// The event delivered.
    pub event_id: EventId,
    /// Its name.
    pub event_name: String,
    /// The `webhook-id` header (and the job's identity).
    pub webhook_id: String,
    /// The JSON body, as signed.
    pub body: String,
}

/// The queued wildcard listener that enqueues one [`DeliverWebhook`] job per active endpoint
/// subscribed to the event, in its own transaction. Register it with
/// `listen_all_queued(FanOutWebhooks, QueueOptions::on("webhooks"), &[…])`, beside the
/// [`DeliverWebhook`] job.
#[derive(Debug, Clone, Copy, Default)]
pub struct FanOutWebhooks;

#[async_trait]
impl WildcardQueuedListener for FanOutWebhooks {
    const NAME: &'static str = "FanOutWebhooks";
    // Database work only: a read of the endpoints (configuration no job changes) and the
    // delivery jobs it enqueues through its unit of work.
    const SHARES_TRANSACTION: bool = true;

    async fn handle(&self, event: &JsonEvent, job: &mut JobContext) -> Result<(), ListenerError> {
        // A read through the reader pool: an event no endpoint wants opens no write transaction.
        let endpoints = {
            let mut conn = job.bus().db().pool().acquire().await?;
            subscribed_to(&mut conn, event.name()).await?
        };
        if endpoints.is_empty() {
            return Ok(());
        }
        let options = job
            .bus()
            .registry()
            .job_options(DeliverWebhook::KIND, DeliverWebhook::NAME)
            .cloned()
            .ok_or_else(|| ListenerError::permanent("the DeliverWebhook job is not registered"))?;
        let meta = event.meta();
        let body = serde_json::json!({
            "type": event.name(),
            "timestamp": meta.occurred_at().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "event_id": meta.event_id(),
            "correlation_id": meta.correlation_id(),
            "data": event.body(),
        })
        .to_string();
        // Opened so the enqueued jobs commit with this job's acknowledgement.
        job.uow().conn().await?;
        for endpoint_id in endpoints {
            let webhook_id = webhook_id(meta.event_id(), endpoint_id);
            let payload = DeliveryJob {
                endpoint_id,
                event_id: meta.event_id(),
                event_name: event.name().to_owned(),
                webhook_id: webhook_id.clone(),
                body: body.clone(),
            };
            let payload = serde_json::to_string(&payload)
                .map_err(|e| ListenerError::permanent(format!("a webhook job cannot be written: {e}")))?;
            job.uow().enqueue_job(
                DeliverWebhook::KIND,
                DeliverWebhook::NAME,
                webhook_id,
                payload,
                &options,
            );
        }
        Ok(())
    }
}

/// Posts one event to one endpoint, signed; see the module docs of [`webhooks`](super).
/// Register it once: `Registry::builder().job(DeliverWebhook::new(timeout), webhook_queue_options(timeout))`.
#[derive(Debug, Clone)]
pub struct DeliverWebhook {
    timeout: Duration,
}

impl DeliverWebhook {
    /// Deliveries whose receiver has not answered within `timeout` are cut off (and retried).
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

/// How one try ended.
struct Attempt {
    status: Option<u16>,
    error: ListenerError,
}

#[async_trait]
impl JobHandler for DeliverWebhook {
    const KIND: &'static str = "webhook";
    const NAME: &'static str = "DeliverWebhook";

    async fn handle(&self, payload: &str, job: &mut JobContext) -> Result<(), ListenerError> {
        let delivery: DeliveryJob = serde_json::from_str(payload)
            .map_err(|e| ListenerError::permanent(format!("the webhook job's payload cannot be read: {e}")))?;
        let endpoint = {
            let mut conn = job.bus().db().pool().acquire().await?;
            target(&mut conn, delivery.endpoint_id).await?
        };
        let Some(endpoint) = endpoint else {
            tracing::info!(endpoint = %delivery.endpoint_id, "webhook endpoint removed; delivery dropped");
            return Ok(());
        };
        let timestamp = job.bus().clock().now().timestamp();
        let signature = endpoint.secret.sign(&delivery.webhook_id, timestamp, &delivery.body);
        // No transaction is open while the receiver is called.
        match self
            .post(&endpoint.url, endpoint.allow_private, &delivery, timestamp, &signature)
            .await
        {
            Ok(status) => {
                let now = to_db_text(job.bus().clock().now());
                let attempt = job.attempt();
                let conn = job.uow().conn().await?;
                record(conn, &delivery, "delivered", Some(status), attempt, None, &now).await?;
                Ok(())
            }
            Err(failed) => {
                let last = failed.error.is_permanent() || job.is_last_attempt();
                let status = if last { "failed" } else { "retrying" };
                let now = to_db_text(job.bus().clock().now());
                let error_text = failed.error.to_string();
                // One statement on its own, outside the job's (rolled back) transaction.
                let mut conn = job.bus().db().writer().acquire().await?;
                if let Err(e) = record(
                    &mut conn,
                    &delivery,
                    status,
                    failed.status,
                    job.attempt(),
                    Some(&error_text),
                    &now,
                )
                .await
                {
                    tracing::warn!(error = %e, "recording a failed webhook delivery");
                }
                Err(failed.error)
            }
        }
    }

    async fn failed(&self, payload: &str, failure: &JobFailure) {
        let id = serde_json::from_str::<DeliveryJob>(payload)
            .map(|j| j.webhook_id)
            .unwrap_or_default();
        tracing::error!(webhook_id = %id, error = %failure.error, attempts = failure.attempts, "webhook undeliverable; see `queue failed`");
    }
}

impl DeliverWebhook {
    /// Checks the URL again, then posts; the receiver's 2xx status, or how the try failed.
    async fn post(
        &self,
        url: &str,
        allow_private: bool,
        delivery: &DeliveryJob,
        timestamp: i64,
        signature: &str,
    ) -> Result<u16, Attempt> {
        let fail = |status: Option<u16>, error: ListenerError| Attempt { status, error };
        let checked = match WebhookUrl::parse(url, allow_private).await {
            Ok(checked) => checked,
            Err(e @ WebhookError::Unresolvable { .. }) => return Err(fail(None, ListenerError::new(e))),
            Err(e) => return Err(fail(None, ListenerError::permanent(e.to_string()))),
        };
        let mut client = http_client(self.timeout, concat!("Enteraksi-Webhooks/", env!("CARGO_PKG_VERSION")));
        // The request goes to the addresses just checked: a host that resolves differently a
        // moment later (DNS rebinding) does not reach a private address.
        if let Some(domain) = checked.domain() {
            client = client.resolve_to_addrs(domain, checked.addresses());
        }
        let client = client.build().map_err(|e| fail(None, ListenerError::new(e)))?;
        let response = client
            .post(checked.as_str())
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| {
                let what = if e.is_timeout() { "timed out" } else { "failed" };
                fail(None, ListenerError::msg(format!("the webhook request {what}: {e}")))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        let code = status.as_u16();
        let message = format!("the receiver answered {status}");
        if status.is_client_error() && code != 408 && code != 429 {
            return Err(fail(Some(code), ListenerError::permanent(message)));
        }
        let mut error = ListenerError::msg(message);
        if let Some(wait) = retry_after(response.headers(), chrono::Utc::now()) {
            error = error.retry_after(wait.min(MAX_RETRY_AFTER));
        }
        Err(fail(Some(code), error))
    }
}

/// Upserts the delivery record of (event, endpoint).
#[tracing::instrument(name = "record a webhook delivery", skip(conn, delivery, error, now), fields(webhook_id = %delivery.webhook_id))]
async fn record(
    conn: &mut sqlx::AnyConnection,
    delivery: &DeliveryJob,
    status: &str,
    response_status: Option<u16>,
    attempts: u32,
    error: Option<&str>,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_deliveries \
           (event_id, endpoint_id, event_name, status, response_status, attempts, last_error, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (event_id, endpoint_id) DO UPDATE SET status = excluded.status, \
           response_status = excluded.response_status, attempts = excluded.attempts, \
           last_error = excluded.last_error, updated_at = excluded.updated_at",
    )
    .bind(delivery.event_id.to_string())
    .bind(delivery.endpoint_id.to_string())
    .bind(delivery.event_name.clone())
    .bind(status.to_owned())
    .bind(response_status.map(i64::from))
    .bind(i64::from(attempts))
    .bind(error.map(str::to_owned))
    .bind(now.to_owned())
    .execute(conn)
    .await?;
    Ok(())
}
