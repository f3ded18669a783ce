//! The enrollment context's events (DESIGN.md §5). Each carries what its listeners need and
//! reports exactly the catalog's metadata keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared_kernel::{Broadcast, Channel, CourseId, DomainEvent, EnrollmentId, Transition, UserId, to_db_text};

use crate::domain::EnrollmentStatus;

fn to_learner(name: &'static str, user: UserId) -> Option<Broadcast> {
    Some(Broadcast::new(name, vec![Channel::private(format!("user.{user}"))]))
}

/// A learner enrolled in a course (`enrollment.created`). Broadcast on the learner's private
/// `user.{user_id}` channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEnrolled {
    /// The new enrollment.
    pub enrollment_id: EnrollmentId,
    /// The learner.
    pub user_id: UserId,
    /// The course.
    pub course_id: CourseId,
    /// Its title, for the welcome notification.
    pub course_title: String,
    /// The instructor who enrolled the learner, if it was not the learner.
    pub invited_by: Option<UserId>,
}

impl DomainEvent for UserEnrolled {
    const NAME: &'static str = "enrollment.created";
    const AGGREGATE_TYPE: &'static str = "enrollment";

    fn tags(&self) -> Vec<String> {
        vec![
            format!("course:{}", self.course_id),
            format!("user:{}", self.user_id),
            format!("enrollment:{}", self.enrollment_id),
        ]
    }

    fn aggregate_id(&self) -> String {
        self.enrollment_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "enrollment_id": self.enrollment_id,
            "user_id": self.user_id,
            "course_id": self.course_id,
            "course_title": self.course_title,
            "invited_by": self.invited_by,
        })
    }

    fn broadcast(&self) -> Option<Broadcast> {
        to_learner(Self::NAME, self.user_id)
    }
}

/// A learner who had dropped out came back (`enrollment.reenrolled`), keeping their progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserReenrolled {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// The learner.
    pub user_id: UserId,
    /// The course.
    pub course_id: CourseId,
    /// The status it left (`dropped`).
    pub previous_status: EnrollmentStatus,
}

impl DomainEvent for UserReenrolled {
    const NAME: &'static str = "enrollment.reenrolled";
    const AGGREGATE_TYPE: &'static str = "enrollment";

    fn transition(&self) -> Option<Transition> {
        Some(Transition::new(
            self.previous_status.as_str(),
            EnrollmentStatus::Active.as_str(),
        ))
    }

    fn tags(&self) -> Vec<String> {
        vec![
            format!("course:{}", self.course_id),
            format!("user:{}", self.user_id),
            format!("enrollment:{}", self.enrollment_id),
        ]
    }

    fn aggregate_id(&self) -> String {
        self.enrollment_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "enrollment_id": self.enrollment_id,
            "user_id": self.user_id,
            "course_id": self.course_id,
            "previous_status": self.previous_status,
        })
    }
}

/// A learner left a course (`enrollment.dropped`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDropped {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// The learner.
    pub user_id: UserId,
    /// The course.
    pub course_id: CourseId,
    /// Why, if they said.
    pub reason: Option<String>,
    /// How much of the course they had done, in percent.
    pub progress_at_drop: f64,
}

impl DomainEvent for UserDropped {
    const NAME: &'static str = "enrollment.dropped";
    const AGGREGATE_TYPE: &'static str = "enrollment";
    /// The learner's own words: sealed in the audit log, erased with them.
    const PERSONAL_FIELDS: &'static [&'static str] = &["reason"];

    fn data_subject(&self) -> Option<UserId> {
        Some(self.user_id)
    }

    fn transition(&self) -> Option<Transition> {
        Some(Transition::new(
            EnrollmentStatus::Active.as_str(),
            EnrollmentStatus::Dropped.as_str(),
        ))
    }

    fn tags(&self) -> Vec<String> {
        vec![
            format!("course:{}", self.course_id),
            format!("user:{}", self.user_id),
            format!("enrollment:{}", self.enrollment_id),
        ]
    }

    fn aggregate_id(&self) -> String {
        self.enrollment_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "enrollment_id": self.enrollment_id,
            "user_id": self.user_id,
            "course_id": self.course_id,
            "reason": self.reason,
            "progress_at_drop": self.progress_at_drop,
        })
    }
}

/// A learner finished a course (`enrollment.completed`). Broadcast on the learner's private
/// `user.{user_id}` channel; a certificate and a congratulation follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollmentCompleted {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// The learner.
    pub user_id: UserId,
    /// The learner's name, if the users store knows them.
    pub user_name: Option<String>,
    /// The course.
    pub course_id: CourseId,
    /// Its title.
    pub course_title: String,
    /// When the learner enrolled.
    pub enrolled_at: DateTime<Utc>,
    /// When they completed the course.
    pub completed_at: DateTime<Utc>,
    /// Seconds spent on the course's lessons.
    pub total_time_spent: u64,
}

impl DomainEvent for EnrollmentCompleted {
    const NAME: &'static str = "enrollment.completed";
    const AGGREGATE_TYPE: &'static str = "enrollment";
    /// The learner's name: sealed in the audit log, erased with them.
    const PERSONAL_FIELDS: &'static [&'static str] = &["user_name"];

    fn data_subject(&self) -> Option<UserId> {
        Some(self.user_id)
    }

    fn transition(&self) -> Option<Transition> {
        Some(Transition::new(
            EnrollmentStatus::Active.as_str(),
            EnrollmentStatus::Completed.as_str(),
        ))
    }

    fn tags(&self) -> Vec<String> {
        vec![
            format!("course:{}", self.course_id),
            format!("user:{}", self.user_id),
            format!("enrollment:{}", self.enrollment_id),
        ]
    }

    fn aggregate_id(&self) -> String {
        self.enrollment_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "enrollment_id": self.enrollment_id,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "course_id": self.course_id,
            "course_title": self.course_title,
            "enrolled_at": to_db_text(self.enrolled_at),
            "completed_at": to_db_text(self.completed_at),
            "total_time_spent": self.total_time_spent,
        })
    }

    fn broadcast(&self) -> Option<Broadcast> {
        to_learner(Self::NAME, self.user_id)
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
    fn user_enrolled_reports_the_catalog_keys_and_goes_to_the_learners_private_channel() {
        let user_id = UserId::new();
        let event = UserEnrolled {
            enrollment_id: EnrollmentId::new(),
            user_id,
            course_id: CourseId::new(),
            course_title: "Rust Dasar".into(),
            invited_by: None,
        };
        assert_eq!(
            keys(&event.metadata()),
            ["course_id", "course_title", "enrollment_id", "invited_by", "user_id"]
        );
        let broadcast = event.broadcast().unwrap();
        assert_eq!(broadcast.name(), "enrollment.created");
        assert_eq!(broadcast.channels(), [Channel::private(format!("user.{user_id}"))]);
    }

    #[test]
    fn user_reenrolled_and_user_dropped_report_the_catalog_keys_and_are_not_broadcast() {
        let reenrolled = UserReenrolled {
            enrollment_id: EnrollmentId::new(),
            user_id: UserId::new(),
            course_id: CourseId::new(),
            previous_status: EnrollmentStatus::Dropped,
        };
        let dropped = UserDropped {
            enrollment_id: EnrollmentId::new(),
            user_id: UserId::new(),
            course_id: CourseId::new(),
            reason: None,
            progress_at_drop: 40.0,
        };
        assert_eq!(
            keys(&reenrolled.metadata()),
            ["course_id", "enrollment_id", "previous_status", "user_id"]
        );
        assert_eq!(reenrolled.metadata()["previous_status"], "dropped");
        assert_eq!(
            keys(&dropped.metadata()),
            ["course_id", "enrollment_id", "progress_at_drop", "reason", "user_id"]
        );
        assert!(reenrolled.broadcast().is_none() && dropped.broadcast().is_none());
    }

    #[test]
    fn enrollment_completed_reports_the_catalog_keys_and_goes_to_the_learners_private_channel() {
        let user_id = UserId::new();
        let event = EnrollmentCompleted {
            enrollment_id: EnrollmentId::new(),
            user_id,
            user_name: Some("Siti".into()),
            course_id: CourseId::new(),
            course_title: "Rust Dasar".into(),
            enrolled_at: Utc::now(),
            completed_at: Utc::now(),
            total_time_spent: 3600,
        };
        assert_eq!(
            keys(&event.metadata()),
            [
                "completed_at",
                "course_id",
                "course_title",
                "enrolled_at",
                "enrollment_id",
                "total_time_spent",
                "user_id",
                "user_name"
            ]
        );
        assert_eq!(event.metadata()["total_time_spent"], 3600);
        assert_eq!(
            event.broadcast().unwrap().channels(),
            [Channel::private(format!("user.{user_id}"))]
        );
    }
}
