//! Notifications: what a [`Notification`] says on each channel, and the [`Notifier`] that
//! delivers it from a queued listener.
//!
//! A notification names the channels it goes via ([`Channel::Database`]: a row in
//! `notifications`, read or unread; [`Channel::Mail`]: a [`MailMessage`] sent through the
//! configured [`MailTransport`]). Each channel is delivered and retried on its own, keyed by
//! (event, listener, recipient, channel):
//!
//! * the database row is written in the notifying job's transaction, under a unique key, so it
//!   exists exactly once whether or not mail works;
//! * the mail is rendered there too and enqueued, in the same transaction, as a job of its own
//!   ([`SendMail`], queue `notifications`, with the notification retry policy). That job sends
//!   with no transaction open — a slow mail server never holds the database's write lock — and
//!   then records the delivery in `notification_deliveries` together with its acknowledgement.
//!
//! Mail is therefore **at least once**: if the process dies after the server accepted a mail and
//! before the delivery was recorded, the mail is sent again. The resend carries the same
//! `Message-ID`, derived from the idempotency key, so a receiving system can drop the duplicate.

mod delivery;
pub mod http;
mod mail;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

pub use delivery::{MailJob, SendMail};
pub use mail::{
    FileTransport, LogTransport, MailError, MailMessage, MailTransport, MemoryTransport, OutgoingMail, SmtpTransport,
    message_id,
};

use crate::bus::JobContext;
use crate::bus::JobHandler;
use crate::bus::UowError;
use crate::clock::to_db_text;
use crate::ids::{NotificationId, UserId};
use crate::users::{User, UserError, find_user};

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A row in the `notifications` table.
    Database,
    /// An email through the configured transport.
    Mail,
}

impl Channel {
    /// The channel's name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Database => "database",
            Channel::Mail => "mail",
        }
    }
}

/// The application's public base URL, from which notification links are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUrl(String);

impl AppUrl {
    /// Parses an `http://` or `https://` base URL; a trailing slash is dropped.
    pub fn parse(value: &str) -> Result<Self, NotifyError> {
        let trimmed = value.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(Self(trimmed.to_owned())),
            _ => Err(NotifyError::InvalidAppUrl(value.to_owned())),
        }
    }

    /// `base/path`.
    pub fn join(&self, path: &str) -> String {
        format!("{}/{}", self.0, path.trim_start_matches('/'))
    }

    /// The base URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Something to tell a user, rendered per channel.
pub trait Notification: Send + Sync {
    /// The notification's type, stored with the database row (e.g. `enrollment.welcome`).
    fn notification_type(&self) -> &'static str;

    /// The channels it goes via (default: mail and database).
    fn via(&self, _to: &User) -> Vec<Channel> {
        vec![Channel::Mail, Channel::Database]
    }

    /// The email.
    fn to_mail(&self, to: &User, app: &AppUrl) -> MailMessage;

    /// The database row's payload.
    fn to_database(&self, to: &User) -> Value;
}

/// A notification could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The recipient is not in the users store (a permanent failure).
    #[error("no user {0} to notify")]
    UnknownRecipient(UserId),
    /// The configured application URL is not an http(s) URL. Fix `APP_URL`.
    #[error("APP_URL `{0}` is not an http:// or https:// URL")]
    InvalidAppUrl(String),
    /// The mail transport failed (retried by the job).
    #[error("mail delivery failed")]
    Mail(#[source] MailError),
    /// The users store failed.
    #[error("reading the recipient failed")]
    User(#[source] UserError),
    /// The database failed.
    #[error("notification storage error")]
    Database(#[source] sqlx::Error),
    /// A mail job's payload could not be written or read.
    #[error("the mail job's payload is invalid")]
    Payload(#[source] serde_json::Error),
    /// The job's unit of work failed.
    #[error("the job's transaction failed")]
    Uow(#[source] UowError),
    /// No [`SendMail`] job handler is registered, so mail cannot be enqueued. Register it with
    /// `Registry::builder().job(SendMail::new(transport), notification_queue_options())`.
    #[error("mail cannot be sent: no `SendMail` job handler is registered")]
    MailNotRegistered,
}

impl From<NotifyError> for crate::bus::ListenerError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::UnknownRecipient(_) | NotifyError::MailNotRegistered => Self::permanent(e.to_string()),
            other => Self::new(other),
        }
    }
}

/// The queue options of a listener that sends notifications: queue `notifications`, 5 tries,
/// backoff 10 s, 30 s, 2 min, 5 min, 30 s per try — mail can wait a while for a flaky server.
/// One policy for every context's notification listeners.
pub fn notification_queue_options() -> crate::QueueOptions {
    use std::time::Duration;
    crate::QueueOptions::on("notifications")
        .tries(5)
        .backoff([
            Duration::from_secs(10),
            Duration::from_secs(30),
            Duration::from_secs(120),
            Duration::from_secs(300),
        ])
        .timeout(Duration::from_secs(30))
}

/// Sends notifications from queued listeners. Listeners hold it as `Arc<dyn NotificationSender>`;
/// app plugs in [`Notifier`], tests may plug in `testing::NotificationFake`.
#[async_trait]
pub trait NotificationSender: Send + Sync + 'static {
    /// Delivers `notification` to `to` on each of its channels, once per channel for this job's
    /// (event, listener) (mail: at least once, see the module docs). Database writes and the mail
    /// job go through the job's unit of work.
    async fn send(&self, job: &mut JobContext, to: UserId, notification: &dyn Notification) -> Result<(), NotifyError>;
}

/// The real notification sender: the `notifications` table and a mail transport.
#[derive(Clone)]
pub struct Notifier {
    transport: Arc<dyn MailTransport>,
    app_url: AppUrl,
    from: (String, String),
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("transport", &self.transport.name())
            .field("app_url", &self.app_url)
            .finish()
    }
}

impl Notifier {
    /// A notifier sending mail through `transport` from (`from_name`, `from_email`), linking to `app_url`.
    pub fn new(transport: Arc<dyn MailTransport>, app_url: AppUrl, from_name: &str, from_email: &str) -> Self {
        Self {
            transport,
            app_url,
            from: (from_name.to_owned(), from_email.to_owned()),
        }
    }
}

#[async_trait]
impl NotificationSender for Notifier {
    #[tracing::instrument(name = "send a notification", skip(self, job, notification), fields(kind = notification.notification_type()))]
    async fn send(&self, job: &mut JobContext, to: UserId, notification: &dyn Notification) -> Result<(), NotifyError> {
        let key = format!("{}:{to}", job.idempotency_key());
        let kind = notification.notification_type();
        let now = job.bus().clock().now();
        let conn = job.uow().conn().await.map_err(NotifyError::Uow)?;
        let user = find_user(conn, to)
            .await
            .map_err(NotifyError::User)?
            .ok_or(NotifyError::UnknownRecipient(to))?;
        for channel in notification.via(&user) {
            let channel_key = format!("{key}:{}", channel.as_str());
            match channel {
                Channel::Database => {
                    let conn = job.uow().conn().await.map_err(NotifyError::Uow)?;
                    sqlx::query(
                        "INSERT INTO notifications (id, notifiable_id, type, data, read_at, created_at, idempotency_key) \
                         VALUES ($1, $2, $3, $4, NULL, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING",
                    )
                    .bind(NotificationId::new().to_string())
                    .bind(to.to_string())
                    .bind(kind)
                    .bind(notification.to_database(&user).to_string())
                    .bind(to_db_text(now))
                    .bind(channel_key)
                    .execute(&mut *conn)
                    .await
                    .map_err(NotifyError::Database)?;
                }
                Channel::Mail => {
                    let options = job
                        .bus()
                        .registry()
                        .job_options(SendMail::KIND, SendMail::NAME)
                        .cloned()
                        .ok_or(NotifyError::MailNotRegistered)?;
                    let message = notification.to_mail(&user, &self.app_url);
                    let mail = MailJob {
                        notifiable_id: to,
                        kind: kind.to_owned(),
                        mail: OutgoingMail::new(&self.from, &user, &message, &channel_key),
                    };
                    let payload = serde_json::to_string(&mail).map_err(NotifyError::Payload)?;
                    job.uow()
                        .enqueue_job(SendMail::KIND, SendMail::NAME, channel_key, payload, &options);
                }
            }
        }
        Ok(())
    }
}

/// One stored database-channel notification.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct StoredNotification {
    /// Its id.
    pub id: String,
    /// The recipient.
    pub notifiable_id: String,
    /// Its type.
    pub kind: String,
    /// Its payload.
    pub data: Value,
    /// When it was read, if it was.
    pub read_at: Option<String>,
    /// When it was stored.
    pub created_at: String,
}

/// The database channel's notifications of a user, newest first.
pub async fn notifications_of(
    conn: &mut sqlx::AnyConnection,
    user: UserId,
    unread_only: bool,
) -> Result<Vec<StoredNotification>, NotifyError> {
    let sql = if unread_only {
        "SELECT id, notifiable_id, type, data, read_at, created_at FROM notifications \
         WHERE notifiable_id = $1 AND read_at IS NULL ORDER BY created_at DESC, id DESC"
    } else {
        "SELECT id, notifiable_id, type, data, read_at, created_at FROM notifications \
         WHERE notifiable_id = $1 ORDER BY created_at DESC, id DESC"
    };
    let rows: Vec<(String, String, String, String, Option<String>, String)> = sqlx::query_as(sql)
        .bind(user.to_string())
        .fetch_all(conn)
        .await
        .map_err(NotifyError::Database)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, notifiable_id, kind, data, read_at, created_at)| StoredNotification {
                id,
                notifiable_id,
                kind,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
                read_at,
                created_at,
            },
        )
        .collect())
}

/// Marks one of a user's notifications read at `now` (the bus clock's); returns whether it was
/// unread.
pub async fn mark_read(
    conn: &mut sqlx::AnyConnection,
    user: UserId,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, NotifyError> {
    let updated =
        sqlx::query("UPDATE notifications SET read_at = $1 WHERE id = $2 AND notifiable_id = $3 AND read_at IS NULL")
            .bind(to_db_text(now))
            .bind(id.to_owned())
            .bind(user.to_string())
            .execute(conn)
            .await
            .map_err(NotifyError::Database)?
            .rows_affected();
    Ok(updated == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_url_joins_paths_without_double_slashes() {
        let app = AppUrl::parse("https://lms.example.id/").unwrap();
        assert_eq!(app.join("/courses/1/learn"), "https://lms.example.id/courses/1/learn");
    }

    #[test]
    fn an_app_url_must_be_http() {
        assert!(matches!(AppUrl::parse("ftp://x"), Err(NotifyError::InvalidAppUrl(_))));
        assert!(matches!(AppUrl::parse("https://"), Err(NotifyError::InvalidAppUrl(_))));
    }
}
