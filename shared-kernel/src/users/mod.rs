//! The people events refer to: name, email and locale, in a small store that notifications read
//! for greetings and addresses; their [`Role`] and the API tokens they authenticate with
//! ([`tokens`]).

pub mod http;
pub mod tokens;

use sqlx::AnyConnection;

pub use tokens::{
    Actor, ApiToken, Caller, Role, authenticate, create_user_with_role, find_user_by_email, issue_token, revoke_tokens,
};

use crate::clock::to_db_text;
use crate::ids::UserId;

/// A rejected user or a storage failure.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name is empty or longer than 120 characters. Maps to 422.
    #[error("a user's name must be 1 to 120 characters")]
    InvalidName,
    /// The email address is malformed. Maps to 422.
    #[error("`{0}` is not a valid email address")]
    InvalidEmail(String),
    /// Another user has this email. Maps to 409.
    #[error("a user with email `{0}` already exists")]
    EmailTaken(String),
    /// No user has this email. Maps to 404.
    #[error("no user with email `{0}`")]
    UnknownEmail(String),
    /// The role is not one of admin, instructor, learner. Maps to 422.
    #[error("`{0}` is not a role: expected admin, instructor or learner")]
    InvalidRole(String),
    /// The database failed. Maps to 500.
    #[error("user storage error")]
    Database(#[source] sqlx::Error),
}

/// A syntactically valid, lower-cased email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses `local@domain.tld`.
    pub fn parse(value: &str) -> Result<Self, UserError> {
        let value = value.trim().to_lowercase();
        let valid = value.len() <= 254
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            })
            && !value.chars().any(char::is_whitespace);
        if valid {
            Ok(Self(value))
        } else {
            Err(UserError::InvalidEmail(value))
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person known to the LMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    id: UserId,
    name: String,
    email: Email,
    locale: String,
}

impl User {
    /// A validated user.
    pub fn new(id: UserId, name: &str, email: &str, locale: &str) -> Result<Self, UserError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            return Err(UserError::InvalidName);
        }
        Ok(Self {
            id,
            name: name.to_owned(),
            email: Email::parse(email)?,
            locale: if locale.trim().is_empty() {
                "id".to_owned()
            } else {
                locale.trim().to_owned()
            },
        })
    }

    /// The id.
    pub fn id(&self) -> UserId {
        self.id
    }
    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The email address.
    pub fn email(&self) -> &Email {
        &self.email
    }
    /// The preferred locale (`id` by default).
    pub fn locale(&self) -> &str {
        &self.locale
    }
}

/// Stores a new learner.
#[tracing::instrument(name = "create a user", skip(conn))]
pub async fn create_user(conn: &mut AnyConnection, name: &str, email: &str, locale: &str) -> Result<User, UserError> {
    insert_user(conn, name, email, locale, Role::Learner, chrono::Utc::now()).await
}

async fn insert_user(
    conn: &mut AnyConnection,
    name: &str,
    email: &str,
    locale: &str,
    role: Role,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<User, UserError> {
    let user = User::new(UserId::new(), name, email, locale)?;
    let result =
        sqlx::query("INSERT INTO users (id, name, email, locale, created_at, role) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(user.id.to_string())
            .bind(user.name.clone())
            .bind(user.email.as_str().to_owned())
            .bind(user.locale.clone())
            .bind(to_db_text(now))
            .bind(role.as_str())
            .execute(conn)
            .await;
    match result {
        Ok(_) => Ok(user),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(UserError::EmailTaken(user.email.0)),
        Err(e) => Err(UserError::Database(e)),
    }
}

/// Finds a user by id.
#[tracing::instrument(name = "find a user", skip(conn))]
pub async fn find_user(conn: &mut AnyConnection, id: UserId) -> Result<Option<User>, UserError> {
    let row: Option<(String, String, String)> = sqlx::query_as("SELECT name, email, locale FROM users WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await
        .map_err(UserError::Database)?;
    row.map(|(name, email, locale)| User::new(id, &name, &email, &locale))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Siti@Example.COM ").unwrap().as_str(),
            "siti@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in ["", "no-at", "@x.id", "a@", "a@nodot", "a b@x.id", "a@.x.id"] {
            assert!(matches!(Email::parse(bad), Err(UserError::InvalidEmail(_))), "{bad}");
        }
    }

    #[test]
    fn a_user_needs_a_name_and_defaults_to_the_indonesian_locale() {
        assert!(matches!(
            User::new(UserId::new(), " ", "a@b.id", ""),
            Err(UserError::InvalidName)
        ));
        assert_eq!(User::new(UserId::new(), "Siti", "a@b.id", "").unwrap().locale(), "id");
    }
}
