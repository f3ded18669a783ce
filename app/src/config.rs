//! Configuration from the environment (and flags that override it). Every value is checked at
//! start-up; a wrong one is an error that names the setting.

use std::path::PathBuf;
use std::sync::Arc;

use shared_kernel::DbOptions;
use shared_kernel::integrations::xapi::LrsEndpoint;
use shared_kernel::notifications::{AppUrl, FileTransport, LogTransport, MailTransport, SmtpTransport};

/// The default database: a SQLite file under `./data`, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:data/enteraksi.db";

/// The range `DATABASE_MAX_CONNECTIONS` accepts. Two at least: a running job may hold its
/// transaction and read through the pool at once.
pub const DATABASE_MAX_CONNECTIONS_RANGE: std::ops::RangeInclusive<u32> = 2..=1000;

/// A setting with a value that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The named setting has an invalid value.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The environment variable (or flag) name.
        setting: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        reason: reason.into(),
    }
}

/// Which mail transport to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailConfig {
    /// Log each mail (default).
    Log,
    /// One `.eml` file per mail in a folder.
    File(PathBuf),
    /// An SMTP server.
    Smtp(String),
}

impl MailConfig {
    /// Builds the transport.
    pub fn transport(&self) -> Result<Arc<dyn MailTransport>, ConfigError> {
        Ok(match self {
            MailConfig::Log => Arc::new(LogTransport),
            MailConfig::File(dir) => Arc::new(FileTransport::new(dir.clone())),
            MailConfig::Smtp(url) => Arc::new(SmtpTransport::from_url(url).map_err(|e| {
                invalid(
                    "SMTP_URL",
                    shared_kernel::redact_secrets(&format!("cannot use `{url}`: {e}")),
                )
            })?),
        })
    }
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: `sqlite:path` or `postgres://…`.
    pub database_url: String,
    /// Whether `database_url` is the default (nothing was configured).
    pub database_url_is_default: bool,
    /// `DATABASE_MAX_CONNECTIONS`: the most connections a process's pool opens (PostgreSQL; on
    /// SQLite the read-only connections beside the one writer). `None`: 10 on PostgreSQL, 4 on
    /// SQLite. Worker slots are capped by it (half of it on PostgreSQL).
    pub database_max_connections: Option<u32>,
    /// `MAIL_TRANSPORT` (`log`, `file`, `smtp`) with `MAIL_FILE_DIR` / `SMTP_URL`.
    pub mail: MailConfig,
    /// `MAIL_FROM_NAME`, `MAIL_FROM_ADDRESS`.
    pub mail_from: (String, String),
    /// `APP_URL`: the base of links in notifications.
    pub app_url: AppUrl,
    /// `HTTP_BIND`: where `serve` listens (default `127.0.0.1:8080`).
    pub http_bind: std::net::SocketAddr,
    /// `CORS_ORIGINS`: the browser origins allowed to call the API, comma-separated (default none).
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// `BROADCAST_RETENTION_HOURS`: how long broadcasts are kept for clients that resume
    /// (default 24; 1 to 8760). Workers prune older ones.
    pub broadcast_retention: std::time::Duration,
    /// `INACTIVITY_REMINDER_DAYS`: how long after enrolling a learner who has completed no lesson
    /// is reminded (default 3; 1 to 365).
    pub inactivity_reminder: std::time::Duration,
    /// `AUDIT_HEAD_KEY`: the key `audit verify` signs the audit log's head with (HMAC-SHA256);
    /// none: the head is printed unsigned.
    pub audit_head_key: Option<SecretKey>,
    /// `WEBHOOK_TIMEOUT_SECS`: how long a webhook receiver may take to answer before the try is
    /// cut off and retried (default 10; 1 to 300).
    pub webhook_timeout: std::time::Duration,
    /// `XAPI_LRS_URL` (the LRS's base IRI, e.g. `http://lrs.example/xAPI/`), with
    /// `XAPI_LRS_KEY` and `XAPI_LRS_SECRET` (Basic auth): where learning records are forwarded
    /// as xAPI statements. None: no `ForwardToLrs` listener is registered.
    pub xapi_lrs: Option<LrsEndpoint>,
    /// `XAPI_LRS_TIMEOUT_SECS`: how long the LRS may take to answer one POST before the try is
    /// cut off and retried (default 10; 1 to 300).
    pub xapi_timeout: std::time::Duration,
    /// `MAIL_RATE_LIMIT`: at most this many mails sent per interval across every worker, e.g.
    /// `10/s` or `600/min` (an SMTP provider's limit); unset: unlimited.
    pub mail_rate_limit: Option<shared_kernel::RateLimit>,
}

/// A key from configuration, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// The key's bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl Config {
    /// Reads the configuration through `get` (the environment in production, a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let configured_url = get("DATABASE_URL");
        let database_url_is_default = configured_url.is_none();
        let database_url = configured_url.unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "DATABASE_URL",
                format!(
                    "`{}` is neither sqlite:<path> nor postgres://…",
                    shared_kernel::redact_url(&database_url)
                ),
            ));
        }
        let database_max_connections = match get("DATABASE_MAX_CONNECTIONS") {
            None => None,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if DATABASE_MAX_CONNECTIONS_RANGE.contains(&n) => Some(n),
                _ => {
                    return Err(invalid(
                        "DATABASE_MAX_CONNECTIONS",
                        format!(
                            "`{text}` is not a number of connections from {} to {} (default: 10 on \
                             PostgreSQL, 4 readers on SQLite)",
                            DATABASE_MAX_CONNECTIONS_RANGE.start(),
                            DATABASE_MAX_CONNECTIONS_RANGE.end()
                        ),
                    ));
                }
            },
        };
        let mail = match get("MAIL_TRANSPORT").as_deref().unwrap_or("log") {
            "log" => MailConfig::Log,
            "file" => MailConfig::File(PathBuf::from(
                get("MAIL_FILE_DIR").unwrap_or_else(|| "data/mail".to_owned()),
            )),
            "smtp" => MailConfig::Smtp(
                get("SMTP_URL").ok_or_else(|| invalid("SMTP_URL", "required when MAIL_TRANSPORT=smtp"))?,
            ),
            other => {
                return Err(invalid(
                    "MAIL_TRANSPORT",
                    format!("`{other}` is not one of log, file, smtp"),
                ));
            }
        };
        // Checked now, not when the first mail is sent.
        mail.transport()?;
        let app_url_text = get("APP_URL").unwrap_or_else(|| "http://localhost:8080".to_owned());
        let app_url = AppUrl::parse(&app_url_text)
            .map_err(|_| invalid("APP_URL", format!("`{app_url_text}` is not an http:// or https:// URL")))?;
        let from_address = get("MAIL_FROM_ADDRESS").unwrap_or_else(|| "noreply@enteraksi.test".to_owned());
        if shared_kernel::users::Email::parse(&from_address).is_err() {
            return Err(invalid(
                "MAIL_FROM_ADDRESS",
                format!("`{from_address}` is not an email address"),
            ));
        }
        let from_name = get("MAIL_FROM_NAME").unwrap_or_else(|| "Enteraksi".to_owned());
        let bind_text = get("HTTP_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let http_bind = bind_text.parse().map_err(|_| {
            invalid(
                "HTTP_BIND",
                format!("`{bind_text}` is not an address such as 127.0.0.1:8080"),
            )
        })?;
        let mut cors_origins = Vec::new();
        for origin in get("CORS_ORIGINS").unwrap_or_default().split(',').map(str::trim) {
            if origin.is_empty() {
                continue;
            }
            let valid = (origin.starts_with("https://") || origin.starts_with("http://")) && !origin.ends_with('/');
            match axum::http::HeaderValue::from_str(origin) {
                Ok(value) if valid => cors_origins.push(value),
                _ => {
                    return Err(invalid(
                        "CORS_ORIGINS",
                        format!("`{origin}` is not an origin such as https://lms.example.id"),
                    ));
                }
            }
        }
        let broadcast_retention = match get("BROADCAST_RETENTION_HOURS") {
            None => shared_kernel::DEFAULT_BROADCAST_RETENTION,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(hours) if (1..=8760).contains(&hours) => std::time::Duration::from_secs(hours * 3600),
                _ => {
                    return Err(invalid(
                        "BROADCAST_RETENTION_HOURS",
                        format!("`{text}` is not a number of hours from 1 to 8760"),
                    ));
                }
            },
        };
        let inactivity_reminder = match get("INACTIVITY_REMINDER_DAYS") {
            None => enrollment::DEFAULT_REMINDER_AFTER,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(days) if (1..=365).contains(&days) => std::time::Duration::from_secs(days * 24 * 3600),
                _ => {
                    return Err(invalid(
                        "INACTIVITY_REMINDER_DAYS",
                        format!("`{text}` is not a number of days from 1 to 365"),
                    ));
                }
            },
        };
        let webhook_timeout = match get("WEBHOOK_TIMEOUT_SECS") {
            None => std::time::Duration::from_secs(10),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(seconds) if (1..=300).contains(&seconds) => std::time::Duration::from_secs(seconds),
                _ => {
                    return Err(invalid(
                        "WEBHOOK_TIMEOUT_SECS",
                        format!("`{text}` is not a number of seconds from 1 to 300"),
                    ));
                }
            },
        };
        let xapi_lrs = match get("XAPI_LRS_URL") {
            None => None,
            Some(url) => Some(
                LrsEndpoint::parse(
                    &url,
                    &get("XAPI_LRS_KEY").unwrap_or_default(),
                    &get("XAPI_LRS_SECRET").unwrap_or_default(),
                )
                .map_err(|e| invalid("XAPI_LRS_URL", e.to_string()))?,
            ),
        };
        let xapi_timeout = match get("XAPI_LRS_TIMEOUT_SECS") {
            None => std::time::Duration::from_secs(10),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(seconds) if (1..=300).contains(&seconds) => std::time::Duration::from_secs(seconds),
                _ => {
                    return Err(invalid(
                        "XAPI_LRS_TIMEOUT_SECS",
                        format!("`{text}` is not a number of seconds from 1 to 300"),
                    ));
                }
            },
        };
        let mail_rate_limit = match get("MAIL_RATE_LIMIT") {
            None => None,
            Some(text) => {
                Some(shared_kernel::RateLimit::parse(&text).map_err(|e| invalid("MAIL_RATE_LIMIT", e.to_string()))?)
            }
        };
        Ok(Self {
            mail_rate_limit,
            database_url,
            database_url_is_default,
            database_max_connections,
            mail,
            mail_from: (from_name, from_address),
            app_url,
            http_bind,
            cors_origins,
            broadcast_retention,
            inactivity_reminder,
            audit_head_key: get("AUDIT_HEAD_KEY").filter(|k| !k.is_empty()).map(SecretKey),
            webhook_timeout,
            xapi_lrs,
            xapi_timeout,
        })
    }

    /// The database pool options these settings ask for.
    pub fn db_options(&self) -> DbOptions {
        DbOptions {
            max_connections: self.database_max_connections,
            ..DbOptions::default()
        }
    }

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_an_embedded_sqlite_file_and_the_log_transport() {
        let c = config(&[]).unwrap();
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.mail, MailConfig::Log);
    }

    #[test]
    fn the_mail_rate_limit_is_unlimited_by_default_and_refused_when_malformed() {
        assert_eq!(config(&[]).unwrap().mail_rate_limit, None);
        let limit = config(&[("MAIL_RATE_LIMIT", "10/s")]).unwrap().mail_rate_limit.unwrap();
        assert_eq!(
            (limit.runs(), limit.interval()),
            (10, std::time::Duration::from_secs(1))
        );
        let err = config(&[("MAIL_RATE_LIMIT", "ten a second")]).unwrap_err().to_string();
        assert!(err.starts_with("MAIL_RATE_LIMIT:") && err.contains("10/s"), "{err}");
        let err = config(&[("MAIL_RATE_LIMIT", "0/s")]).unwrap_err().to_string();
        assert!(err.starts_with("MAIL_RATE_LIMIT:"), "{err}");
    }

    #[test]
    fn a_wrong_value_names_its_setting() {
        let err = config(&[("MAIL_TRANSPORT", "pigeon")]).unwrap_err().to_string();
        assert!(err.starts_with("MAIL_TRANSPORT:"), "{err}");
        let err = config(&[("DATABASE_URL", "mysql://x")]).unwrap_err().to_string();
        assert!(err.starts_with("DATABASE_URL:"), "{err}");
        let err = config(&[("APP_URL", "lms.example")]).unwrap_err().to_string();
        assert!(err.starts_with("APP_URL:"), "{err}");
        let err = config(&[("MAIL_TRANSPORT", "smtp")]).unwrap_err().to_string();
        assert!(err.starts_with("SMTP_URL:"), "{err}");
        let err = config(&[("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", "garbage")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("SMTP_URL:"), "{err}");
    }

    #[test]
    fn the_pool_size_is_checked_and_feeds_the_database_options() {
        assert_eq!(config(&[]).unwrap().db_options().max_connections, None);
        let c = config(&[("DATABASE_MAX_CONNECTIONS", "6")]).unwrap();
        assert_eq!(c.db_options().max_connections, Some(6));
        for wrong in ["0", "1", "ten", "-3", "5000"] {
            let err = config(&[("DATABASE_MAX_CONNECTIONS", wrong)]).unwrap_err().to_string();
            assert!(err.starts_with("DATABASE_MAX_CONNECTIONS:"), "{err}");
            assert!(err.contains(&format!("`{wrong}`")), "{err}");
        }
    }

    #[test]
    fn the_lrs_is_configured_only_with_a_url_key_and_secret() {
        let c = config(&[]).unwrap();
        assert!(c.xapi_lrs.is_none());
        assert_eq!(c.xapi_timeout, std::time::Duration::from_secs(10));
        let c = config(&[
            ("XAPI_LRS_URL", "http://lrs.example/xAPI"),
            ("XAPI_LRS_KEY", "k"),
            ("XAPI_LRS_SECRET", "s"),
        ])
        .unwrap();
        assert_eq!(
            c.xapi_lrs.unwrap().statements_url(),
            "http://lrs.example/xAPI/statements"
        );
        let err = config(&[("XAPI_LRS_URL", "http://lrs.example/xAPI")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("XAPI_LRS_URL:") && err.contains("XAPI_LRS_KEY"),
            "{err}"
        );
        let err = config(&[
            ("XAPI_LRS_URL", "lrs.example"),
            ("XAPI_LRS_KEY", "k"),
            ("XAPI_LRS_SECRET", "s"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("XAPI_LRS_URL:"), "{err}");
        let err = config(&[("XAPI_LRS_TIMEOUT_SECS", "0")]).unwrap_err().to_string();
        assert!(err.starts_with("XAPI_LRS_TIMEOUT_SECS:"), "{err}");
    }

    #[test]
    fn the_webhook_timeout_defaults_to_ten_seconds_and_is_checked() {
        assert_eq!(config(&[]).unwrap().webhook_timeout, std::time::Duration::from_secs(10));
        let c = config(&[("WEBHOOK_TIMEOUT_SECS", "3")]).unwrap();
        assert_eq!(c.webhook_timeout, std::time::Duration::from_secs(3));
        for wrong in ["0", "301", "soon"] {
            let err = config(&[("WEBHOOK_TIMEOUT_SECS", wrong)]).unwrap_err().to_string();
            assert!(err.starts_with("WEBHOOK_TIMEOUT_SECS:"), "{err}");
        }
    }

    #[test]
    fn plain_smtp_on_a_host_and_port_is_accepted() {
        let c = config(&[("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", "smtp://127.0.0.1:2525")]).unwrap();
        assert_eq!(c.mail, MailConfig::Smtp("smtp://127.0.0.1:2525".into()));
    }

    #[test]
    fn the_file_transport_takes_its_folder() {
        let c = config(&[("MAIL_TRANSPORT", "file"), ("MAIL_FILE_DIR", "/tmp/m")]).unwrap();
        assert_eq!(c.mail, MailConfig::File("/tmp/m".into()));
    }
}
