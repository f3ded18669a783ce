//! Roles and API tokens: what a user may do, and how a client proves it is that user.
//!
//! A token is 256 random bits, written `ek_` and 64 hex digits, shown once when issued. Only its
//! SHA-256 hash is stored, so a copy of the database does not hold usable tokens. A user may hold
//! several tokens; revoking revokes them all, and a revoked token never authenticates again.

use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use super::{Email, User, UserError, insert_user};
use crate::clock::to_db_text;
use crate::ids::UserId;

/// What a user may do: admins anything (and read the audit log), instructors author and grade
/// their own courses, assessments and paths, learners act for themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May do anything.
    Admin,
    /// Authors and grades their own courses, assessments and paths.
    Instructor,
    /// Acts for themselves.
    Learner,
}

impl Role {
    /// Parses `admin`, `instructor` or `learner`.
    pub fn parse(value: &str) -> Result<Self, UserError> {
        match value.trim().to_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "instructor" => Ok(Role::Instructor),
            "learner" => Ok(Role::Learner),
            _ => Err(UserError::InvalidRole(value.to_owned())),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Instructor => "instructor",
            Role::Learner => "learner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who performs a command and with what authority: the user (the `actor_id` of the events it
/// records) and whether they act as an admin, who may manage what other users own (DESIGN.md:
/// instructors author and grade their own courses, assessments and paths; admins any).
///
/// A bare [`UserId`] converts to an actor without admin authority, so code that only knows the
/// user (the CLI, the demo, tests) can never act beyond that user's own things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    id: UserId,
    admin: bool,
}

impl Actor {
    /// `id` acting with the authority of `role`.
    pub fn new(id: UserId, role: Role) -> Self {
        Actor {
            id,
            admin: role == Role::Admin,
        }
    }

    /// The acting user.
    pub fn id(self) -> UserId {
        self.id
    }

    /// Whether the actor acts as an admin.
    pub fn is_admin(self) -> bool {
        self.admin
    }

    /// Whether the actor may manage something `owner` owns: their own, or anything for an admin.
    pub fn may_manage(self, owner: UserId) -> bool {
        self.admin || self.id == owner
    }
}

impl From<UserId> for Actor {
    fn from(id: UserId) -> Self {
        Actor { id, admin: false }
    }
}

/// A newly issued token in plain text: give it to the user once; it is not stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("ek_{hex}"))
    }

    /// The token, to send as `Authorization: Bearer …`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

/// The stored form of a token: its SHA-256, in hex.
fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// Their role.
    pub role: Role,
}

/// Stores a new user with `role`.
#[tracing::instrument(name = "create a user", skip(conn))]
pub async fn create_user_with_role(
    conn: &mut AnyConnection,
    name: &str,
    email: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<User, UserError> {
    insert_user(conn, name, email, "id", role, now).await
}

/// Finds a user by email (case-insensitive, as stored).
pub async fn find_user_by_email(conn: &mut AnyConnection, email: &str) -> Result<Option<User>, UserError> {
    let email = Email::parse(email)?;
    let row: Option<(String, String, String)> = sqlx::query_as("SELECT id, name, locale FROM users WHERE email = $1")
        .bind(email.as_str().to_owned())
        .fetch_optional(conn)
        .await
        .map_err(UserError::Database)?;
    row.map(|(id, name, locale)| {
        let id = UserId::parse(&id).map_err(|_| UserError::InvalidName)?;
        User::new(id, &name, email.as_str(), &locale)
    })
    .transpose()
}

/// Issues a new token for `user` (other tokens stay valid).
#[tracing::instrument(name = "issue an API token", skip(conn))]
pub async fn issue_token(conn: &mut AnyConnection, user: UserId, now: DateTime<Utc>) -> Result<ApiToken, UserError> {
    let token = ApiToken::generate();
    sqlx::query("INSERT INTO api_tokens (id, user_id, token_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(user.to_string())
        .bind(hash(token.expose()))
        .bind(to_db_text(now))
        .execute(conn)
        .await
        .map_err(UserError::Database)?;
    Ok(token)
}

/// Revokes every token of `user`; returns how many were still valid.
#[tracing::instrument(name = "revoke API tokens", skip(conn))]
pub async fn revoke_tokens(conn: &mut AnyConnection, user: UserId, now: DateTime<Utc>) -> Result<u64, UserError> {
    Ok(
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(to_db_text(now))
            .bind(user.to_string())
            .execute(conn)
            .await
            .map_err(UserError::Database)?
            .rows_affected(),
    )
}

/// The caller a token belongs to, or `None` for an unknown or revoked token.
pub async fn authenticate(conn: &mut AnyConnection, token: &str) -> Result<Option<Caller>, UserError> {
    if !token.starts_with("ek_") || token.len() != 67 {
        return Ok(None);
    }
    let row: Option<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT u.id, u.name, u.email, u.locale, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
    )
    .bind(hash(token))
    .fetch_optional(conn)
    .await
    .map_err(UserError::Database)?;
    row.map(|(id, name, email, locale, role)| {
        let id = UserId::parse(&id).map_err(|_| UserError::InvalidName)?;
        Ok(Caller {
            user: User::new(id, &name, &email, &locale)?,
            role: Role::parse(&role)?,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_carries_256_random_bits_and_only_its_hash_is_kept() {
        let a = ApiToken::generate();
        let b = ApiToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 67);
        assert!(a.expose()[3..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hash(a.expose()).len(), 64);
        assert_ne!(hash(a.expose()), a.expose()[3..]);
        assert_eq!(format!("{a:?}"), "ApiToken(***)");
    }

    #[test]
    fn roles_parse_by_name() {
        assert_eq!(Role::parse("Instructor").unwrap(), Role::Instructor);
        assert!(matches!(Role::parse("teacher"), Err(UserError::InvalidRole(_))));
    }
}
