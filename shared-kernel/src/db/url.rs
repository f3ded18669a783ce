//! Database URLs: which backend and target a URL names, and the redaction of passwords from
//! every URL in a message.

use std::path::Path;

use super::{Backend, DbError};

/// A parsed database URL.
pub(super) struct Target {
    pub(super) backend: Backend,
    /// The URL sqlx gets.
    pub(super) url: String,
    /// What error messages name: `host:port` or the file.
    pub(super) display: String,
    /// The SQLite file, unless in memory.
    pub(super) file: Option<String>,
}

impl Target {
    pub(super) fn parse(url: &str) -> Result<Self, DbError> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.trim_start_matches("//");
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            let in_memory = path == ":memory:" || path.is_empty() || query.contains("mode=memory");
            if let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !in_memory && !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            let query = if query.contains("mode=") {
                query.to_owned()
            } else if query.is_empty() {
                "mode=rwc".to_owned()
            } else {
                format!("{query}&mode=rwc")
            };
            Ok(Self {
                backend: Backend::Sqlite,
                url: format!("sqlite://{path}?{query}"),
                display: format!("SQLite file {path}"),
                file: (!in_memory).then(|| path.to_owned()),
            })
        } else if let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        {
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            let host = if host.is_empty() { "localhost" } else { host };
            let display = if host.contains(':') && !host.ends_with(']') {
                host.to_owned()
            } else {
                format!("{host}:5432")
            };
            Ok(Self {
                backend: Backend::Postgres,
                url: url.to_owned(),
                display,
                file: None,
            })
        } else {
            Err(DbError::UnsupportedUrl(url.to_owned()))
        }
    }

    pub(super) fn connect_error(&self, e: &sqlx::Error) -> DbError {
        DbError::Connect {
            target: self.display.clone(),
            reason: redact_secrets(&describe(e)),
        }
    }
}

/// A sqlx error with its causes, as one line.
fn describe(e: &sqlx::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

/// `url` with the password of its user info replaced by `***` (`postgres://u:***@host/db`).
pub fn redact_url(url: &str) -> String {
    redact_secrets(url)
}

/// `text` with the password of every URL in it replaced by `***`: for error messages and logs
/// that may quote a database or SMTP URL.
pub fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '`' || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
