//! [`SendMail`]: the job that carries one notification mail to its transport, apart from the
//! notifying listener's transaction (see the module docs of [`notifications`](super)).

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{MailTransport, NotifyError, OutgoingMail};
use crate::bus::JobContext;
use crate::bus::{JobFailure, JobHandler, ListenerError};
use crate::clock::to_db_text;
use crate::ids::UserId;

/// A mail job's payload: the mail, rendered when the notification was made, and whom it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailJob {
    /// The recipient.
    pub notifiable_id: UserId,
    /// The notification's type (e.g. `enrollment.welcome`).
    pub kind: String,
    /// The mail; its idempotency key is the job's identity and its `Message-ID`.
    pub mail: OutgoingMail,
}

/// Sends one enqueued notification mail: skips it if its delivery is already recorded, sends it
/// with no transaction open, then records the delivery in the job's transaction (which also
/// acknowledges the job). Register it once:
/// `Registry::builder().job(SendMail::new(transport), notification_queue_options())`.
#[derive(Clone)]
pub struct SendMail {
    transport: Arc<dyn MailTransport>,
}

impl std::fmt::Debug for SendMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendMail")
            .field("transport", &self.transport.name())
            .finish()
    }
}

impl SendMail {
    /// Sends through `transport`.
    pub fn new(transport: Arc<dyn MailTransport>) -> Self {
        Self { transport }
    }
}

#[async_trait]
impl JobHandler for SendMail {
    const KIND: &'static str = "mail";
    const NAME: &'static str = "SendMail";

    async fn handle(&self, payload: &str, job: &mut JobContext) -> Result<(), ListenerError> {
        let job_payload: MailJob = serde_json::from_str(payload)
            .map_err(|e| ListenerError::permanent(format!("the mail job's payload cannot be read: {e}")))?;
        let key = &job_payload.mail.idempotency_key;
        // A read through the reader pool: no write lock is taken before the send.
        let delivered: Option<(String,)> =
            sqlx::query_as("SELECT channel FROM notification_deliveries WHERE idempotency_key = $1")
                .bind(key.clone())
                .fetch_optional(job.bus().db().pool())
                .await?;
        if delivered.is_some() {
            tracing::debug!(%key, "mail already delivered; not sending again");
            return Ok(());
        }
        self.transport
            .send(&job_payload.mail)
            .await
            .map_err(|e| ListenerError::new(NotifyError::Mail(e)))?;
        let now = to_db_text(job.bus().clock().now());
        let conn = job.uow().conn().await?;
        sqlx::query(
            "INSERT INTO notification_deliveries (idempotency_key, channel, notifiable_id, type, delivered_at) \
             VALUES ($1, 'mail', $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(key.clone())
        .bind(job_payload.notifiable_id.to_string())
        .bind(job_payload.kind.clone())
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn failed(&self, payload: &str, failure: &JobFailure) {
        let key = serde_json::from_str::<MailJob>(payload)
            .map(|j| j.mail.idempotency_key)
            .unwrap_or_default();
        tracing::error!(%key, error = %failure.error, attempts = failure.attempts, "mail undeliverable; see `queue failed`");
    }
}
