//! Erasing a person (`enteraksi user erase`): their key is deleted, so every sealed field of
//! theirs in the audit log reads as `[erased]` (the log and its hash chain stay as they are);
//! in the same transaction their user row is anonymised, their tokens, notifications and stored
//! request responses deleted, mail still waiting for them dropped, and their name scrubbed from
//! the jobs, failed jobs and broadcasts still held. What remains about them is their random id
//! on their enrollments, progress and events: it no longer leads to a person.
//!
//! On SQLite deleted bytes survive in free pages and the write-ahead log, so the database is
//! then checkpointed, vacuumed (rewritten without free pages) and checkpointed again: the key
//! and the plain text are gone from the files. On PostgreSQL dead rows stay on disk until
//! `VACUUM` reuses their space; the key is unreadable through the database at once.

use serde_json::Value;
use sqlx::{AnyConnection, AssertSqlSafe};

use super::{ERASED, Keys, sealed_strings};
use crate::bus::EventBus;
use crate::clock::to_db_text;
use crate::db::Backend;

/// What an erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erasure {
    /// The person's id (kept on their rows, now leading to no one).
    pub user_id: String,
    /// Audit rows holding their sealed personal data (now `[erased]`).
    pub sealed_audit_rows: u64,
    /// Their notifications deleted.
    pub notifications: u64,
    /// Jobs or failed jobs carrying mail to them, dropped.
    pub mails_dropped: u64,
    /// Jobs, failed jobs and broadcasts whose copies of their personal data were scrubbed.
    pub scrubbed: u64,
}

/// Why an erasure did not run.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// No user has that address (an erased user's address is gone too).
    #[error("no user has the e-mail address {0}")]
    UnknownEmail(String),
    /// The database failed; nothing was erased.
    #[error("erasing failed; nothing was erased")]
    Database(#[from] sqlx::Error),
}

/// Erases the person with e-mail address `email`; see the module docs.
///
/// # Errors
/// [`EraseError::UnknownEmail`]; storage failures (the transaction rolls back: nothing erased).
pub async fn erase(bus: &EventBus, email: &str) -> Result<Erasure, EraseError> {
    let db = bus.db();
    let now = to_db_text(bus.clock().now());
    let mut tx = db.begin_write().await?;
    let user: Option<(String, String, String)> = sqlx::query_as("SELECT id, name, email FROM users WHERE email = $1")
        .bind(email.trim().to_owned())
        .fetch_optional(&mut *tx)
        .await?;
    let Some((user_id, name, email)) = user else {
        return Err(EraseError::UnknownEmail(email.to_owned()));
    };
    let mut erasure = Erasure {
        user_id: user_id.clone(),
        ..Erasure::default()
    };

    // Their personal values as they appear in plain copies (jobs, broadcasts): their name, their
    // address, and every sealed field of theirs, opened while the key still exists.
    let mut values = vec![name, email.clone()];
    let marker = format!("%sealed:v1:{user_id}:%");
    let sealed: Vec<(String,)> = sqlx::query_as("SELECT metadata FROM domain_event_log WHERE metadata LIKE $1")
        .bind(marker)
        .fetch_all(&mut *tx)
        .await?;
    erasure.sealed_audit_rows = sealed.len() as u64;
    let keys = Keys::for_reading(&mut tx, std::slice::from_ref(&user_id)).await?;
    for (metadata,) in sealed {
        if let Ok(value) = serde_json::from_str::<Value>(&metadata) {
            sealed_strings(&value, &keys, &mut values);
        }
    }
    values.retain(|v| !v.is_empty() && v != ERASED);
    values.sort();
    values.dedup();

    // The key: gone. A tombstone stays, so data of theirs written later is stored as erased.
    sqlx::query(
        "INSERT INTO user_keys (user_id, secret, created_at, erased_at) VALUES ($1, NULL, $2, $2) \
         ON CONFLICT (user_id) DO UPDATE SET secret = NULL, erased_at = $2",
    )
    .bind(user_id.clone())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE users SET name = $1, email = $2 WHERE id = $3")
        .bind(ERASED)
        .bind(format!("erased-{user_id}@erased.invalid"))
        .bind(user_id.clone())
        .execute(&mut *tx)
        .await?;
    for sql in [
        "DELETE FROM api_tokens WHERE user_id = $1",
        "DELETE FROM idempotency_keys WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id.clone()).execute(&mut *tx).await?;
    }
    erasure.notifications = sqlx::query("DELETE FROM notifications WHERE notifiable_id = $1")
        .bind(user_id.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();

    // Mail to them that has not gone out will not: it carries their address and their name.
    let quoted_email = format!("%{}%", json_string(&email));
    for table in ["jobs", "failed_jobs"] {
        erasure.mails_dropped += sqlx::query(AssertSqlSafe(format!("DELETE FROM {table} WHERE payload LIKE $1")))
            .bind(quoted_email.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    // Plain copies of their events still held: their values replaced, nothing else touched.
    for (table, column) in [
        ("jobs", "payload"),
        ("failed_jobs", "payload"),
        ("broadcast_log", "data"),
    ] {
        erasure.scrubbed += scrub(&mut tx, table, column, &user_id, &values).await?;
    }
    tx.commit().await?;

    if db.backend() == Backend::Sqlite {
        // Deleted bytes linger in free pages and the WAL: rewrite the file without them.
        let writer = db.writer();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(writer).await?;
        sqlx::query("VACUUM").execute(writer).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(writer).await?;
    }
    Ok(erasure)
}

/// `value` as the inside of a JSON string (escaped, without the quotes).
fn json_string(value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Replaces, in the rows of `table` that mention `user_id`, each of `values` appearing as a
/// whole JSON string — directly, or inside a JSON text held in a string (a webhook body) — with
/// `[erased]`. Returns how many rows changed.
async fn scrub(
    conn: &mut AnyConnection,
    table: &str,
    column: &str,
    user_id: &str,
    values: &[String],
) -> Result<u64, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT id, {column} FROM {table} WHERE {column} LIKE $1"
    )))
    .bind(format!("%{user_id}%"))
    .fetch_all(&mut *conn)
    .await?;
    let mut changed = 0;
    for (id, text) in rows {
        let scrubbed = scrub_text(&text, values);
        if scrubbed != text {
            sqlx::query(AssertSqlSafe(format!("UPDATE {table} SET {column} = $1 WHERE id = $2")))
                .bind(scrubbed)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

fn scrub_text(text: &str, values: &[String]) -> String {
    let mut out = text.to_owned();
    for value in values {
        let inner = json_string(value);
        // As a JSON string, and as a JSON string inside a JSON string.
        out = out.replace(&format!("\"{inner}\""), &format!("\"{ERASED}\""));
        let nested = json_string(&format!("\"{inner}\""));
        out = out.replace(&nested, &json_string(&format!("\"{ERASED}\"")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_json_strings_are_scrubbed_and_substrings_left_alone() {
        let text = r#"{"user_name":"Ani","course_title":"Animasi","body":"{\"user_name\":\"Ani\"}"}"#;
        let scrubbed = scrub_text(text, &["Ani".to_owned()]);
        assert_eq!(
            scrubbed,
            r#"{"user_name":"[erased]","course_title":"Animasi","body":"{\"user_name\":\"[erased]\"}"}"#
        );
    }
}
