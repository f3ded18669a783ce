//! Tamper evidence for the audit log: a hash chain per aggregate and its verification.
//!
//! Each row's `row_hash` is SHA-256 over its content and the hash of the same aggregate's
//! previous row (version order, which is commit order), written in the row's own transaction by
//! the outbox. [`verify`] streams the log in (aggregate, version) order and names the first row
//! that was changed or inserted (it no longer matches its hash chained from the row before) or
//! that follows a removed one (a version is missing). Removing an aggregate's newest rows breaks no
//! link, so the verification also gives a **head** over every aggregate's last hash and the row
//! count, HMAC-signed with a key from configuration: an operator keeps it, and a later
//! verification with `--expect` compares the log as it was at the head's time against it.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};

use crate::bus::audit_row::{RowContent, hex, row_hash};
use crate::clock::{from_db_text, to_db_text};
use crate::db::Database;

/// What is wrong with a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tampering {
    /// The row does not match its hash chained from the row before: its content was changed,
    /// or it was inserted (renumbering the rows after it).
    Changed,
    /// The aggregate's previous version is missing (a row was removed).
    Removed {
        /// The version that should come before.
        missing_version: i64,
    },
    /// The version appears twice (a row was inserted with the unique index dropped).
    Inserted,
}

/// The first row found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The row's event id.
    pub event_id: String,
    /// `type:id` of its aggregate.
    pub aggregate: String,
    /// Its version.
    pub aggregate_version: i64,
    /// What is wrong.
    pub tampering: Tampering,
}

/// A verification's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Rows read.
    pub rows: u64,
    /// Rows written before the chain existed (not verified).
    pub unchained: u64,
    /// Aggregates read.
    pub aggregates: u64,
    /// The first row found wrong, if any.
    pub problem: Option<Problem>,
    /// The head: `v1:<rows>:<through>:<hash>` (through = the newest `created_at` covered).
    pub head: String,
}

type Row = (
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    String,
    Option<String>,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// Walks the whole log (or, with `through`, the rows created at or before it) as a stream, in
/// (aggregate, version) order, checking every chained row; stops at the first problem.
///
/// # Errors
/// Storage failures.
pub async fn verify(db: &Database, through: Option<DateTime<Utc>>) -> Result<Verification, sqlx::Error> {
    let filter = if through.is_some() {
        " WHERE created_at <= $1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT event_id, event_name, aggregate_type, aggregate_id, aggregate_version, actor_id, metadata, payload, \
         schema_version, occurred_at, created_at, correlation_id, causation_id, row_hash FROM domain_event_log{filter} \
         ORDER BY aggregate_type, aggregate_id, aggregate_version"
    );
    let mut conn = db.pool().acquire().await?;
    let mut query = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql));
    if let Some(through) = through {
        query = query.bind(to_db_text(through));
    }
    let mut rows = query.fetch(&mut *conn);
    let mut out = Verification {
        rows: 0,
        unchained: 0,
        aggregates: 0,
        problem: None,
        head: String::new(),
    };
    let mut heads = Sha256::new();
    let mut newest = String::new();
    let mut current: Option<(String, String)> = None;
    let mut last_version = 0i64;
    let mut last_hash: Option<String> = None;
    while let Some(row) = rows.try_next().await? {
        let (
            event_id,
            event_name,
            kind,
            id,
            version,
            actor,
            metadata,
            payload,
            schema,
            occurred,
            created,
            correlation,
            causation,
            stored,
        ) = row;
        out.rows += 1;
        if created > newest {
            newest = created.clone();
        }
        let key = (kind.clone(), id.clone());
        if current.as_ref() != Some(&key) {
            close(&mut heads, &current, last_version, &last_hash);
            current = Some(key);
            out.aggregates += 1;
            last_version = 0;
            last_hash = None;
        }
        let problem = |tampering| Problem {
            event_id: event_id.clone(),
            aggregate: format!("{kind}:{id}"),
            aggregate_version: version,
            tampering,
        };
        if out.problem.is_none() {
            if version == last_version {
                out.problem = Some(problem(Tampering::Inserted));
            } else if version != last_version + 1 && stored.is_some() {
                out.problem = Some(problem(Tampering::Removed {
                    missing_version: last_version + 1,
                }));
            }
        }
        match &stored {
            None => out.unchained += 1,
            Some(stored) if out.problem.is_none() => {
                let content = RowContent {
                    event_id: &event_id,
                    event_name: &event_name,
                    aggregate_type: &kind,
                    aggregate_id: &id,
                    aggregate_version: version,
                    actor_id: actor.as_deref(),
                    metadata: &metadata,
                    payload: payload.as_deref(),
                    schema_version: schema,
                    occurred_at: &occurred,
                    created_at: &created,
                    correlation_id: &correlation,
                    causation_id: causation.as_deref(),
                };
                if row_hash(last_hash.as_deref(), &content) != *stored {
                    out.problem = Some(problem(Tampering::Changed));
                }
            }
            Some(_) => {}
        }
        last_version = version;
        last_hash = stored;
    }
    close(&mut heads, &current, last_version, &last_hash);
    let through = if newest.is_empty() {
        "-".to_owned()
    } else {
        from_db_text(&newest).map_or(newest.clone(), to_db_text)
    };
    out.head = format!("v1:{}:{through}:{}", out.rows, hex(&heads.finalize()));
    Ok(out)
}

/// Adds an aggregate's last version and hash to the head.
fn close(heads: &mut Sha256, key: &Option<(String, String)>, version: i64, hash: &Option<String>) {
    if let Some((kind, id)) = key {
        heads.update(format!(
            "{kind}\u{1f}{id}\u{1f}{version}\u{1f}{}\n",
            hash.as_deref().unwrap_or("-")
        ));
    }
}

/// `head` signed with `key` (HMAC-SHA256, hex), for the operator to keep: `<head>:<signature>`.
pub fn sign_head(head: &str, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(head.as_bytes());
    format!("{head}:{}", hex(&mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        // Key "Jefe", data "what do ya want for nothing?".
        let signed = sign_head("what do ya want for nothing?", b"Jefe");
        assert!(signed.ends_with(":5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
    }

    #[test]
    fn a_field_moved_across_a_boundary_changes_the_hash() {
        let row = RowContent {
            event_id: "e",
            event_name: "a.b",
            aggregate_type: "a",
            aggregate_id: "1",
            aggregate_version: 1,
            actor_id: None,
            metadata: "{}",
            payload: None,
            schema_version: 1,
            occurred_at: "t",
            created_at: "t",
            correlation_id: "c",
            causation_id: None,
        };
        let moved = RowContent {
            event_name: "a",
            aggregate_type: ".ba",
            ..row
        };
        assert_ne!(row_hash(None, &row), row_hash(None, &moved));
        assert_ne!(row_hash(None, &row), row_hash(Some("x"), &row));
    }
}
