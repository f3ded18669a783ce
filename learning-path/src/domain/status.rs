//! The lifecycles: a path is `draft → published`; a path enrollment is `active → completed`
//! or `active → dropped`, and both of those are final.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a learning path is in its lifecycle. Serialized as its lowercase name, the same text
/// [`PathStatus::as_str`] stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathStatus {
    /// Being put together by its owner; its course list can change; nobody can enroll.
    Draft,
    /// Open to learners; its course list is frozen.
    Published,
}

impl PathStatus {
    /// The stored and displayed name: `draft` or `published`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
        }
    }

    /// The inverse of [`PathStatus::as_str`].
    pub(crate) fn from_stored(value: &str) -> Option<Self> {
        match value {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            _ => None,
        }
    }
}

impl fmt::Display for PathStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a path enrollment is in its lifecycle. Serialized as its lowercase name, the same text
/// [`PathEnrollmentStatus::as_str`] stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathEnrollmentStatus {
    /// The learner is working through the path's courses.
    Active,
    /// The learner completed the path's last course.
    Completed,
    /// The learner left the path.
    Dropped,
}

/// A lifecycle move a path enrollment's current status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a path enrollment cannot go from `{from}` to `{to}`")]
pub struct InvalidTransition {
    /// The status the path enrollment is in.
    pub from: PathEnrollmentStatus,
    /// The status that was asked for.
    pub to: PathEnrollmentStatus,
}

impl PathEnrollmentStatus {
    /// `active → dropped`.
    pub fn drop_out(self) -> Result<Self, InvalidTransition> {
        match self {
            Self::Active => Ok(Self::Dropped),
            from => Err(InvalidTransition {
                from,
                to: Self::Dropped,
            }),
        }
    }

    /// `active → completed`.
    pub fn complete(self) -> Result<Self, InvalidTransition> {
        match self {
            Self::Active => Ok(Self::Completed),
            from => Err(InvalidTransition {
                from,
                to: Self::Completed,
            }),
        }
    }

    /// The stored and displayed name: `active`, `completed` or `dropped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Dropped => "dropped",
        }
    }

    /// The inverse of [`PathEnrollmentStatus::as_str`].
    pub(crate) fn from_stored(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "completed" => Some(Self::Completed),
            "dropped" => Some(Self::Dropped),
            _ => None,
        }
    }
}

impl fmt::Display for PathEnrollmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_active_path_enrollment_can_be_dropped_or_completed() {
        use PathEnrollmentStatus::*;
        assert_eq!(Active.drop_out(), Ok(Dropped));
        assert_eq!(Active.complete(), Ok(Completed));
        assert_eq!(
            Dropped.drop_out(),
            Err(InvalidTransition {
                from: Dropped,
                to: Dropped
            })
        );
        assert_eq!(
            Completed.drop_out(),
            Err(InvalidTransition {
                from: Completed,
                to: Dropped
            })
        );
        assert_eq!(
            Dropped.complete(),
            Err(InvalidTransition {
                from: Dropped,
                to: Completed
            })
        );
    }

    #[test]
    fn statuses_round_trip_through_their_stored_names_and_serde() {
        for status in [
            PathEnrollmentStatus::Active,
            PathEnrollmentStatus::Completed,
            PathEnrollmentStatus::Dropped,
        ] {
            assert_eq!(PathEnrollmentStatus::from_stored(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for status in [PathStatus::Draft, PathStatus::Published] {
            assert_eq!(PathStatus::from_stored(status.as_str()), Some(status));
        }
        assert_eq!(PathStatus::from_stored("archived"), None);
    }
}
