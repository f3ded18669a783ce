//! An enrollment's lifecycle: `active → completed`, `active → dropped → active` (re-enroll).
//! A completed enrollment is final.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where an enrollment is in its lifecycle. Serialized (in events) as its lowercase name, the
/// same text [`EnrollmentStatus::as_str`] stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnrollmentStatus {
    /// The learner is taking the course.
    Active,
    /// Every lesson is done.
    Completed,
    /// The learner left; they may re-enroll and keep their progress.
    Dropped,
}

/// A lifecycle move the enrollment's current status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an enrollment cannot go from `{from}` to `{to}`")]
pub struct InvalidTransition {
    /// The status the enrollment is in.
    pub from: EnrollmentStatus,
    /// The status that was asked for.
    pub to: EnrollmentStatus,
}

impl EnrollmentStatus {
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

    /// `dropped → active`.
    pub fn reenroll(self) -> Result<Self, InvalidTransition> {
        match self {
            Self::Dropped => Ok(Self::Active),
            from => Err(InvalidTransition { from, to: Self::Active }),
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

    /// The inverse of [`EnrollmentStatus::as_str`].
    pub(crate) fn from_stored(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "completed" => Some(Self::Completed),
            "dropped" => Some(Self::Dropped),
            _ => None,
        }
    }
}

impl fmt::Display for EnrollmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::EnrollmentStatus::{Active, Completed, Dropped};
    use super::*;

    #[test]
    fn an_active_enrollment_can_be_dropped_or_completed() {
        assert_eq!(Active.drop_out(), Ok(Dropped));
        assert_eq!(Active.complete(), Ok(Completed));
    }

    #[test]
    fn a_dropped_enrollment_can_be_re_enrolled() {
        assert_eq!(Dropped.reenroll(), Ok(Active));
    }

    #[test]
    fn a_completed_enrollment_cannot_be_dropped_and_the_error_names_both_states() {
        let err = Completed.drop_out().unwrap_err();
        assert_eq!(
            err,
            InvalidTransition {
                from: Completed,
                to: Dropped
            }
        );
        assert_eq!(err.to_string(), "an enrollment cannot go from `completed` to `dropped`");
    }

    #[test]
    fn an_active_enrollment_cannot_be_re_enrolled() {
        assert_eq!(
            Active.reenroll(),
            Err(InvalidTransition {
                from: Active,
                to: Active
            })
        );
    }

    #[test]
    fn a_completed_enrollment_is_final() {
        assert_eq!(
            Completed.complete(),
            Err(InvalidTransition {
                from: Completed,
                to: Completed
            })
        );
        assert_eq!(
            Completed.reenroll(),
            Err(InvalidTransition {
                from: Completed,
                to: Active
            })
        );
    }

    #[test]
    fn a_dropped_enrollment_cannot_be_completed_or_dropped_again() {
        assert_eq!(
            Dropped.complete(),
            Err(InvalidTransition {
                from: Dropped,
                to: Completed
            })
        );
        assert_eq!(
            Dropped.drop_out(),
            Err(InvalidTransition {
                from: Dropped,
                to: Dropped
            })
        );
    }

    #[test]
    fn a_status_round_trips_through_its_stored_name() {
        for status in [Active, Completed, Dropped] {
            assert_eq!(EnrollmentStatus::from_stored(status.as_str()), Some(status));
        }
        assert_eq!(EnrollmentStatus::from_stored("paused"), None);
    }
}
