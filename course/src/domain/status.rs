//! A course's lifecycle: `draft → published → draft`, `draft | published → archived`, and
//! archived is final.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a course is in its lifecycle. Serialized (in events) as its lowercase name, the same
/// text [`CourseStatus::as_str`] stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CourseStatus {
    /// Being written; visible to its instructor only. Nobody can enroll.
    Draft,
    /// Live: learners can enroll.
    Published,
    /// Retired for good.
    Archived,
}

/// A lifecycle move the course's current status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a course cannot go from `{from}` to `{to}`")]
pub struct InvalidTransition {
    /// The status the course is in.
    pub from: CourseStatus,
    /// The status that was asked for.
    pub to: CourseStatus,
}

impl CourseStatus {
    /// `draft → published`.
    pub fn publish(self) -> Result<Self, InvalidTransition> {
        match self {
            Self::Draft => Ok(Self::Published),
            from => Err(InvalidTransition {
                from,
                to: Self::Published,
            }),
        }
    }

    /// `published → draft`.
    pub fn unpublish(self) -> Result<Self, InvalidTransition> {
        match self {
            Self::Published => Ok(Self::Draft),
            from => Err(InvalidTransition { from, to: Self::Draft }),
        }
    }

    /// `draft | published → archived`.
    pub fn archive(self) -> Result<Self, InvalidTransition> {
        match self {
            Self::Draft | Self::Published => Ok(Self::Archived),
            from => Err(InvalidTransition {
                from,
                to: Self::Archived,
            }),
        }
    }

    /// The stored and displayed name: `draft`, `published` or `archived`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Archived => "archived",
        }
    }

    /// The inverse of [`CourseStatus::as_str`].
    pub(crate) fn from_stored(value: &str) -> Option<Self> {
        match value {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            "archived" => Some(Self::Archived),
            _ => None,
        }
    }
}

impl fmt::Display for CourseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::CourseStatus::{Archived, Draft, Published};
    use super::*;

    #[test]
    fn a_draft_can_be_published_and_a_published_course_unpublished() {
        assert_eq!(Draft.publish(), Ok(Published));
        assert_eq!(Published.unpublish(), Ok(Draft));
    }

    #[test]
    fn a_draft_or_published_course_can_be_archived() {
        assert_eq!(Draft.archive(), Ok(Archived));
        assert_eq!(Published.archive(), Ok(Archived));
    }

    #[test]
    fn publishing_a_published_course_names_both_states() {
        let err = Published.publish().unwrap_err();
        assert_eq!(
            err,
            InvalidTransition {
                from: Published,
                to: Published
            }
        );
        assert_eq!(err.to_string(), "a course cannot go from `published` to `published`");
    }

    #[test]
    fn a_draft_cannot_be_unpublished() {
        assert_eq!(Draft.unpublish(), Err(InvalidTransition { from: Draft, to: Draft }));
    }

    #[test]
    fn an_archived_course_is_final() {
        assert_eq!(
            Archived.publish(),
            Err(InvalidTransition {
                from: Archived,
                to: Published
            })
        );
        assert_eq!(
            Archived.unpublish(),
            Err(InvalidTransition {
                from: Archived,
                to: Draft
            })
        );
        assert_eq!(
            Archived.archive(),
            Err(InvalidTransition {
                from: Archived,
                to: Archived
            })
        );
    }

    #[test]
    fn a_status_round_trips_through_its_stored_name() {
        for status in [Draft, Published, Archived] {
            assert_eq!(CourseStatus::from_stored(status.as_str()), Some(status));
        }
        assert_eq!(CourseStatus::from_stored("deleted"), None);
    }

    #[test]
    fn a_status_serializes_as_its_stored_name() {
        assert_eq!(serde_json::to_value(Published).unwrap(), "published");
    }
}
