//! Personal data in the event log, sealed per person (crypto-shredding).
//!
//! An event declares which of its fields hold personal data and whose
//! ([`DomainEvent::PERSONAL_FIELDS`](crate::DomainEvent::PERSONAL_FIELDS),
//! [`DomainEvent::data_subject`](crate::DomainEvent::data_subject)). When the outbox writes its
//! audit row, those fields — in the metadata and in the whole payload — are sealed with that
//! person's key (AES-256-GCM, a random key per person in `user_keys`, created in the same
//! transaction): the stored value is the string `sealed:v1:{user id}:{base64 nonce‖ciphertext}`,
//! and the row hash covers it. Reads (`audit`, the audit API, replays, exports) reveal sealed
//! values with one key lookup per read; once [`erase`] has deleted the key they read as
//! [`ERASED`], and `audit verify` still passes because nothing hashed changed.
//!
//! Jobs carry the plain event (their listeners need it) and live until acknowledged; erasure
//! scrubs the ones still waiting or failed.

pub mod erase;

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde_json::Value;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::db::Backend;

/// What an erased person's personal fields read as.
pub const ERASED: &str = "[erased]";

/// The prefix of a sealed value.
const SEALED: &str = "sealed:v1:";

/// The keys of the people a commit or a read concerns: `None` for an erased person.
pub(crate) struct Keys(HashMap<String, Option<LessSafeKey>>);

impl Keys {
    fn from_rows(rows: Vec<(String, Option<String>)>) -> Self {
        let keys = rows
            .into_iter()
            .map(|(user, secret)| {
                let key = secret
                    .and_then(|s| STANDARD.decode(s).ok())
                    .and_then(|bytes| UnboundKey::new(&AES_256_GCM, &bytes).ok())
                    .map(LessSafeKey::new);
                (user, key)
            })
            .collect();
        Self(keys)
    }

    /// The keys of `subjects`, created (in the caller's transaction) for those who have none.
    pub(crate) async fn for_writing(
        conn: &mut AnyConnection,
        backend: Backend,
        subjects: &[String],
        now: &str,
    ) -> Result<Self, sqlx::Error> {
        if subjects.is_empty() {
            return Ok(Self(HashMap::new()));
        }
        let values: Vec<String> = (0..subjects.len())
            .map(|i| format!("(${}, ${}, $1)", 2 * i + 2, 2 * i + 3))
            .collect();
        let ids: Vec<String> = (0..subjects.len()).map(|i| format!("${}", 2 * i + 2)).collect();
        let insert = format!(
            "INSERT INTO user_keys (user_id, secret, created_at) VALUES {} ON CONFLICT DO NOTHING",
            values.join(", ")
        );
        let select = format!(
            "SELECT user_id, secret FROM user_keys WHERE user_id IN ({})",
            ids.join(", ")
        );
        // One round trip: on PostgreSQL the new keys come back from the INSERT (its snapshot does
        // not show them to the SELECT), on SQLite the SELECT follows and sees them.
        let sql = match backend {
            Backend::Sqlite => format!("{insert};\n{select}"),
            Backend::Postgres => format!(
                "WITH created AS ({insert} RETURNING user_id, secret) \
                 SELECT user_id, secret FROM created UNION ALL {select}"
            ),
        };
        let mut query = sqlx::query_as::<_, (String, Option<String>)>(AssertSqlSafe(sql)).bind(now.to_owned());
        for subject in subjects {
            let secret: [u8; 32] = rand::random();
            query = query.bind(subject.clone()).bind(STANDARD.encode(secret));
        }
        Ok(Self::from_rows(query.fetch_all(&mut *conn).await?))
    }

    /// The keys of `subjects` as they are (erased or never created: none).
    pub(crate) async fn for_reading(conn: &mut AnyConnection, subjects: &[String]) -> Result<Self, sqlx::Error> {
        if subjects.is_empty() {
            return Ok(Self(HashMap::new()));
        }
        let ids: Vec<String> = (1..=subjects.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT user_id, secret FROM user_keys WHERE user_id IN ({})",
            ids.join(", ")
        );
        let mut query = sqlx::query_as::<_, (String, Option<String>)>(AssertSqlSafe(sql));
        for subject in subjects {
            query = query.bind(subject.clone());
        }
        Ok(Self::from_rows(query.fetch_all(&mut *conn).await?))
    }

    fn key(&self, subject: &str) -> Option<&LessSafeKey> {
        self.0.get(subject).and_then(Option::as_ref)
    }
}

/// Seals, at any depth of `value`, the values of the keys named in `fields` that are not null:
/// with `subject`'s key, or as [`ERASED`] when that person was erased already.
pub(crate) fn seal(value: &mut Value, fields: &[&str], subject: &str, keys: &Keys) {
    match value {
        Value::Object(map) => {
            for (name, field) in map.iter_mut() {
                if fields.contains(&name.as_str()) {
                    if !field.is_null() {
                        *field = Value::String(seal_one(field, subject, keys.key(subject)));
                    }
                } else {
                    seal(field, fields, subject, keys);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| seal(item, fields, subject, keys)),
        _ => {}
    }
}

fn seal_one(plain: &Value, subject: &str, key: Option<&LessSafeKey>) -> String {
    let Some(key) = key else {
        return ERASED.to_owned();
    };
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut data = serde_json::to_vec(plain).unwrap_or_default();
    if key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(subject.as_bytes()),
            &mut data,
        )
        .is_err()
    {
        return ERASED.to_owned();
    }
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&data);
    format!("{SEALED}{subject}:{}", STANDARD.encode(sealed))
}

fn open_one(sealed: &str, keys: &Keys) -> Value {
    let opened = sealed.strip_prefix(SEALED).and_then(|rest| {
        let (subject, data) = rest.split_once(':')?;
        let key = keys.key(subject)?;
        let mut bytes = STANDARD.decode(data).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let nonce = Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).ok()?;
        let plain = key
            .open_in_place(nonce, Aad::from(subject.as_bytes()), &mut bytes[NONCE_LEN..])
            .ok()?;
        serde_json::from_slice(plain).ok()
    });
    opened.unwrap_or_else(|| Value::String(ERASED.to_owned()))
}

/// The people whose sealed values appear in `value`.
fn subjects_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            if let Some((subject, _)) = s.strip_prefix(SEALED).and_then(|rest| rest.split_once(':'))
                && !out.iter().any(|o| o == subject)
            {
                out.push(subject.to_owned());
            }
        }
        Value::Object(map) => map.values().for_each(|v| subjects_in(v, out)),
        Value::Array(items) => items.iter().for_each(|v| subjects_in(v, out)),
        _ => {}
    }
}

/// Every string inside the sealed values of `value`, opened with `keys` (none when erased).
fn sealed_strings(value: &Value, keys: &Keys, out: &mut Vec<String>) {
    match value {
        Value::String(s) if s.starts_with(SEALED) => strings(&open_one(s, keys), out),
        Value::Object(map) => map.values().for_each(|v| sealed_strings(v, keys, out)),
        Value::Array(items) => items.iter().for_each(|v| sealed_strings(v, keys, out)),
        _ => {}
    }
}

/// Every string in `value`.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn open_all(value: &mut Value, keys: &Keys) {
    match value {
        Value::String(s) if s.starts_with(SEALED) => *value = open_one(s, keys),
        Value::Object(map) => map.values_mut().for_each(|v| open_all(v, keys)),
        Value::Array(items) => items.iter_mut().for_each(|v| open_all(v, keys)),
        _ => {}
    }
}

/// Reveals every sealed value in `values`, in place: the person's data while their key exists,
/// [`ERASED`] once they were erased. One key lookup for all of them.
///
/// # Errors
/// Storage failures.
pub async fn reveal(conn: &mut AnyConnection, values: &mut [&mut Value]) -> Result<(), sqlx::Error> {
    let mut subjects = Vec::new();
    for value in values.iter() {
        subjects_in(value, &mut subjects);
    }
    if subjects.is_empty() {
        return Ok(());
    }
    let keys = Keys::for_reading(conn, &subjects).await?;
    for value in values.iter_mut() {
        open_all(value, &keys);
    }
    Ok(())
}

/// [`reveal`] for a stored JSON text (a payload): the text itself when nothing in it is sealed.
///
/// # Errors
/// Storage failures; a text that is not JSON is returned as it is.
pub async fn reveal_text(conn: &mut AnyConnection, text: &str) -> Result<String, sqlx::Error> {
    if !text.contains(SEALED) {
        return Ok(text.to_owned());
    }
    let Ok(mut value) = serde_json::from_str::<Value>(text) else {
        return Ok(text.to_owned());
    };
    reveal(conn, &mut [&mut value]).await?;
    Ok(value.to_string())
}

/// Whether a stored text holds sealed values.
pub fn is_sealed(text: &str) -> bool {
    text.contains(SEALED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_with(subject: &str, secret: Option<[u8; 32]>) -> Keys {
        Keys::from_rows(vec![(subject.to_owned(), secret.map(|s| STANDARD.encode(s)))])
    }

    #[test]
    fn sealed_fields_open_with_the_key_and_read_as_erased_without_it() {
        let keys = keys_with("u1", Some([7; 32]));
        let mut value = serde_json::json!({"event": {"user_name": "Siti", "course": "Rust"}, "reason": null});
        seal(&mut value, &["user_name", "reason"], "u1", &keys);
        let sealed = value.to_string();
        assert!(!sealed.contains("Siti"), "{sealed}");
        assert!(sealed.contains("\"course\":\"Rust\""), "other fields stay plain");
        assert!(value["reason"].is_null(), "null stays null");

        let mut opened = value.clone();
        open_all(&mut opened, &keys);
        assert_eq!(opened["event"]["user_name"], "Siti");

        let mut erased = value.clone();
        open_all(&mut erased, &keys_with("u1", None));
        assert_eq!(erased["event"]["user_name"], ERASED);
        // Another person's key does not open it (the person is the AEAD's associated data).
        let mut wrong = value;
        open_all(&mut wrong, &keys_with("u1", Some([8; 32])));
        assert_eq!(wrong["event"]["user_name"], ERASED);
    }

    #[test]
    fn an_erased_persons_new_data_is_stored_as_erased() {
        let mut value = serde_json::json!({"user_name": "Siti"});
        seal(&mut value, &["user_name"], "u1", &keys_with("u1", None));
        assert_eq!(value["user_name"], ERASED);
    }

    #[test]
    fn subjects_are_found_once() {
        let keys = keys_with("u1", Some([1; 32]));
        let mut value = serde_json::json!({"a": "x", "b": "y"});
        seal(&mut value, &["a", "b"], "u1", &keys);
        let mut subjects = Vec::new();
        subjects_in(&value, &mut subjects);
        assert_eq!(subjects, ["u1"]);
    }
}
