//! An audit row's hashed content and its hash in the aggregate's chain: what the outbox writes
//! (`row_hash`) and what [`audit::chain`](crate::audit::chain) verifies.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// What a row's hash covers, as stored (text as written, NULL as absent).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowContent<'a> {
    pub(crate) event_id: &'a str,
    pub(crate) event_name: &'a str,
    pub(crate) aggregate_type: &'a str,
    pub(crate) aggregate_id: &'a str,
    pub(crate) aggregate_version: i64,
    pub(crate) actor_id: Option<&'a str>,
    pub(crate) metadata: &'a str,
    pub(crate) payload: Option<&'a str>,
    pub(crate) schema_version: i64,
    pub(crate) occurred_at: &'a str,
    pub(crate) created_at: &'a str,
    pub(crate) correlation_id: &'a str,
    pub(crate) causation_id: Option<&'a str>,
}

/// The hash of a row whose aggregate's previous row hashed to `previous` (`None`: the first).
/// Each field is length-prefixed, so no two contents hash alike by moving a separator.
pub(crate) fn row_hash(previous: Option<&str>, row: &RowContent<'_>) -> String {
    let mut hasher = Sha256::new();
    let version = row.aggregate_version.to_string();
    let schema = row.schema_version.to_string();
    let fields = [
        previous,
        Some(row.event_id),
        Some(row.event_name),
        Some(row.aggregate_type),
        Some(row.aggregate_id),
        Some(version.as_str()),
        row.actor_id,
        Some(row.metadata),
        row.payload,
        Some(schema.as_str()),
        Some(row.occurred_at),
        Some(row.created_at),
        Some(row.correlation_id),
        row.causation_id,
    ];
    for field in fields {
        match field {
            Some(value) => hasher.update(format!("{}:", value.len()).as_bytes()),
            None => hasher.update(b"-:"),
        }
        hasher.update(field.unwrap_or("").as_bytes());
    }
    hex(&hasher.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
