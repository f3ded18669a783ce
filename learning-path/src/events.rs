//! The learning-path context's events (DESIGN.md §5). Each carries what its listeners need and
//! reports exactly the catalog's metadata keys. Their aggregate is the path enrollment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared_kernel::{
    Broadcast, Channel, CourseId, DomainEvent, LearningPathId, PathEnrollmentId, Transition, UserId, to_db_text,
};

use crate::domain::PathEnrollmentStatus;

const AGGREGATE: &str = "learning_path_enrollment";

fn to_learner(name: &'static str, user: UserId) -> Option<Broadcast> {
    Some(Broadcast::new(name, vec![Channel::private(format!("user.{user}"))]))
}

/// A learner enrolled in a learning path (`learning_path.enrollment.created`). Broadcast on the
/// learner's private `user.{user_id}` channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathEnrollmentCreated {
    /// The new path enrollment.
    pub path_enrollment_id: PathEnrollmentId,
    /// The path.
    pub path_id: LearningPathId,
    /// Its title, for the welcome notification.
    pub path_title: String,
    /// The learner.
    pub user_id: UserId,
}

impl DomainEvent for PathEnrollmentCreated {
    const NAME: &'static str = "learning_path.enrollment.created";
    const AGGREGATE_TYPE: &'static str = AGGREGATE;

    fn tags(&self) -> Vec<String> {
        vec![format!("path:{}", self.path_id), format!("user:{}", self.user_id)]
    }

    fn aggregate_id(&self) -> String {
        self.path_enrollment_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "path_enrollment_id": self.path_enrollment_id,
            "path_id": self.path_id,
            "path_title": self.path_title,
            "user_id": self.user_id,
        })
    }

    fn broadcast(&self) -> Option<Broadcast> {
        to_learner(Self::NAME, self.user_id)
    }
}

/// A course of the path became available to the learner (`learning_path.course_unlocked`): the
/// first on enrolling, each next one when the previous is completed. Broadcast on the learner's
/// private `user.{user_id}` channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseUnlockedInPath {
    /// The path enrollment.
    pub path_enrollment_id: PathEnrollmentId,
    /// The path.
    pub path_id: LearningPathId,
    /// The unlocked course.
    pub course_id: CourseId,
    /// Its title.
    pub course_title: String,
    /// The learner.
    pub user_id: UserId,
}

impl DomainEvent for CourseUnlockedInPath {
    const NAME: &'static str = "learning_path.course_unlocked";
    const AGGREGATE_TYPE: &'static str = AGGREGATE;

    fn tags(&self) -> Vec<String> {
        vec![
            format!("path:{}", self.path_id),
            format!("course:{}", self.course_id),
            format!("user:{}", self.user_id),
        ]
    }

    fn aggregate_id(&self) -> String {
        self.path_enrollment_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "path_enrollment_id": self.path_enrollment_id,
            "path_id": self.path_id,
            "course_id": self.course_id,
            "course_title": self.course_title,
            "user_id": self.user_id,
        })
    }

    fn broadcast(&self) -> Option<Broadcast> {
        to_learner(Self::NAME, self.user_id)
    }
}

/// A learner completed the path's last course (`learning_path.completed`). Broadcast on the
/// learner's private `user.{user_id}` channel; a congratulation follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathCompleted {
    /// The path enrollment.
    pub path_enrollment_id: PathEnrollmentId,
    /// The path.
    pub path_id: LearningPathId,
    /// Its title.
    pub path_title: String,
    /// The learner.
    pub user_id: UserId,
    /// When the path was completed.
    pub completed_at: DateTime<Utc>,
}

impl DomainEvent for PathCompleted {
    const NAME: &'static str = "learning_path.completed";
    const AGGREGATE_TYPE: &'static str = AGGREGATE;

    fn transition(&self) -> Option<Transition> {
        Some(Transition::new(
            PathEnrollmentStatus::Active.as_str(),
            PathEnrollmentStatus::Completed.as_str(),
        ))
    }

    fn tags(&self) -> Vec<String> {
        vec![format!("path:{}", self.path_id), format!("user:{}", self.user_id)]
    }

    fn aggregate_id(&self) -> String {
        self.path_enrollment_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "path_enrollment_id": self.path_enrollment_id,
            "path_id": self.path_id,
            "path_title": self.path_title,
            "user_id": self.user_id,
            "completed_at": to_db_text(self.completed_at),
        })
    }

    fn broadcast(&self) -> Option<Broadcast> {
        to_learner(Self::NAME, self.user_id)
    }
}

/// A learner left a learning path (`learning_path.dropped`). Their course enrollments stay as
/// they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathDropped {
    /// The path enrollment.
    pub path_enrollment_id: PathEnrollmentId,
    /// The path.
    pub path_id: LearningPathId,
    /// The learner.
    pub user_id: UserId,
    /// Why, if they said.
    pub reason: Option<String>,
}

impl DomainEvent for PathDropped {
    const NAME: &'static str = "learning_path.dropped";
    const AGGREGATE_TYPE: &'static str = AGGREGATE;

    fn transition(&self) -> Option<Transition> {
        Some(Transition::new(
            PathEnrollmentStatus::Active.as_str(),
            PathEnrollmentStatus::Dropped.as_str(),
        ))
    }

    fn tags(&self) -> Vec<String> {
        vec![format!("path:{}", self.path_id), format!("user:{}", self.user_id)]
    }

    fn aggregate_id(&self) -> String {
        self.path_enrollment_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "path_enrollment_id": self.path_enrollment_id,
            "path_id": self.path_id,
            "user_id": self.user_id,
            "reason": self.reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(value: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn path_enrollment_created_reports_the_catalog_keys_and_goes_to_the_learners_private_channel() {
        let user_id = UserId::new();
        let event = PathEnrollmentCreated {
            path_enrollment_id: PathEnrollmentId::new(),
            path_id: LearningPathId::new(),
            path_title: "Jalur Rust".into(),
            user_id,
        };
        assert_eq!(
            keys(&event.metadata()),
            ["path_enrollment_id", "path_id", "path_title", "user_id"]
        );
        let broadcast = event.broadcast().unwrap();
        assert_eq!(broadcast.name(), "learning_path.enrollment.created");
        assert_eq!(broadcast.channels(), [Channel::private(format!("user.{user_id}"))]);
        assert_eq!(PathEnrollmentCreated::AGGREGATE_TYPE, "learning_path_enrollment");
        assert_eq!(event.aggregate_id(), event.path_enrollment_id.to_string());
    }

    #[test]
    fn course_unlocked_in_path_reports_the_catalog_keys_and_is_private() {
        let user_id = UserId::new();
        let event = CourseUnlockedInPath {
            path_enrollment_id: PathEnrollmentId::new(),
            path_id: LearningPathId::new(),
            course_id: CourseId::new(),
            course_title: "Rust Dasar".into(),
            user_id,
        };
        assert_eq!(
            keys(&event.metadata()),
            ["course_id", "course_title", "path_enrollment_id", "path_id", "user_id"]
        );
        assert_eq!(
            event.broadcast().unwrap().channels(),
            [Channel::private(format!("user.{user_id}"))]
        );
    }

    #[test]
    fn path_completed_reports_the_catalog_keys_and_survives_a_json_round_trip() {
        let event = PathCompleted {
            path_enrollment_id: PathEnrollmentId::new(),
            path_id: LearningPathId::new(),
            path_title: "Jalur Rust".into(),
            user_id: UserId::new(),
            completed_at: Utc::now(),
        };
        assert_eq!(
            keys(&event.metadata()),
            ["completed_at", "path_enrollment_id", "path_id", "path_title", "user_id"]
        );
        assert!(event.broadcast().is_some());
        let back: PathCompleted = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn path_dropped_reports_the_catalog_keys_and_is_not_broadcast() {
        let event = PathDropped {
            path_enrollment_id: PathEnrollmentId::new(),
            path_id: LearningPathId::new(),
            user_id: UserId::new(),
            reason: Some("pindah kerja".into()),
        };
        assert_eq!(
            keys(&event.metadata()),
            ["path_enrollment_id", "path_id", "reason", "user_id"]
        );
        assert!(event.broadcast().is_none());
        assert_eq!(PathDropped::NAME, "learning_path.dropped");
    }
}
