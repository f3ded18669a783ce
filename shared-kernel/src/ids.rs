//! Identifier newtypes. Every entity of the catalog has its own type over a UUIDv7, so a
//! `CourseId` can never be passed where an `EnrollmentId` is expected, and ids sort by creation time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that is not a valid identifier of the named kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id")]
pub struct IdParseError {
    /// The kind of id that was expected (e.g. `course`).
    pub kind: &'static str,
    /// The rejected input.
    pub value: String,
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The kind of entity this id names, as used in error messages.
            pub const KIND: &'static str = $kind;

            /// A new, time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (for rows read back from storage).
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses the canonical hyphenated form; anything else is an [`IdParseError`].
            pub fn parse(value: &str) -> Result<Self, IdParseError> {
                Uuid::parse_str(value).map(Self).map_err(|_| IdParseError {
                    kind: $kind,
                    value: value.to_owned(),
                })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        /// In the OpenAPI document: a string in UUID format.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

define_id!(
    /// A person: learner, instructor or administrator.
    UserId, "user");
define_id!(
    /// A course.
    CourseId, "course");
define_id!(
    /// A lesson of a course.
    LessonId, "lesson");
define_id!(
    /// A learner's enrollment in a course.
    EnrollmentId, "enrollment");
define_id!(
    /// An assessment (quiz or exam).
    AssessmentId, "assessment");
define_id!(
    /// A question of an assessment.
    QuestionId, "question");
define_id!(
    /// One attempt of a learner at an assessment.
    AttemptId, "assessment attempt");
define_id!(
    /// A learning path: an ordered list of courses.
    LearningPathId, "learning path");
define_id!(
    /// A learner's enrollment in a learning path.
    PathEnrollmentId, "learning path enrollment");
define_id!(
    /// A certificate of completion.
    CertificateId, "certificate");
define_id!(
    /// A notification stored in the database channel.
    NotificationId, "notification");
define_id!(
    /// An external endpoint that receives events (a webhook).
    WebhookEndpointId, "webhook endpoint");
define_id!(
    /// One domain event occurrence.
    EventId, "event");
define_id!(
    /// The root request or event of a cascade: every event it causes carries it.
    CorrelationId, "correlation");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_round_trips_through_its_string_form() {
        let id = CourseId::new();
        let parsed: CourseId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
    }

    #[test]
    fn a_malformed_id_is_a_typed_error_naming_its_kind() {
        let err = EnrollmentId::parse("not-a-uuid").unwrap_err();
        assert_eq!(err.kind, "enrollment");
        assert_eq!(err.to_string(), "`not-a-uuid` is not a valid enrollment id");
    }

    #[test]
    fn new_ids_are_version_7_and_sort_by_creation() {
        let a = UserId::new();
        let b = UserId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn an_id_serializes_as_a_plain_string() {
        let id = LessonId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: LessonId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
    }
}
