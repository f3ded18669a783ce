//! The course context's events (DESIGN.md §5). Each carries what its listeners need and
//! reports exactly the catalog's metadata keys.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared_kernel::{Broadcast, Channel, CourseId, DomainEvent, Transition, UserId};

use crate::domain::CourseStatus;

/// A course went live (`course.published`). Broadcast on the public `courses` and
/// `course.{id}` channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoursePublished {
    /// The course.
    pub course_id: CourseId,
    /// Its title at publication.
    pub course_title: String,
    /// Who published it.
    pub publisher_id: Option<UserId>,
    /// The status it left (always `draft` today, kept for the audit trail).
    pub previous_status: CourseStatus,
}

impl DomainEvent for CoursePublished {
    const NAME: &'static str = "course.published";
    const AGGREGATE_TYPE: &'static str = "course";

    fn transition(&self) -> Option<Transition> {
        Some(Transition::new(
            self.previous_status.as_str(),
            CourseStatus::Published.as_str(),
        ))
    }

    fn tags(&self) -> Vec<String> {
        vec![format!("course:{}", self.course_id)]
    }

    fn aggregate_id(&self) -> String {
        self.course_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "course_id": self.course_id,
            "course_title": self.course_title,
            "publisher_id": self.publisher_id,
            "previous_status": self.previous_status,
        })
    }

    fn broadcast(&self) -> Option<Broadcast> {
        Some(Broadcast::new(
            Self::NAME,
            vec![
                Channel::public("courses"),
                Channel::public(format!("course.{}", self.course_id)),
            ],
        ))
    }
}

/// A published course went back to draft (`course.unpublished`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseUnpublished {
    /// The course.
    pub course_id: CourseId,
    /// Its title.
    pub course_title: String,
    /// The status it left (`published`).
    pub previous_status: CourseStatus,
    /// How many learners were in the middle of it.
    pub active_enrollments_count: u64,
}

impl DomainEvent for CourseUnpublished {
    const NAME: &'static str = "course.unpublished";
    const AGGREGATE_TYPE: &'static str = "course";

    fn transition(&self) -> Option<Transition> {
        Some(Transition::new(
            self.previous_status.as_str(),
            CourseStatus::Draft.as_str(),
        ))
    }

    fn tags(&self) -> Vec<String> {
        vec![format!("course:{}", self.course_id)]
    }

    fn aggregate_id(&self) -> String {
        self.course_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "course_id": self.course_id,
            "course_title": self.course_title,
            "previous_status": self.previous_status,
            "active_enrollments_count": self.active_enrollments_count,
        })
    }
}

/// A course was retired for good (`course.archived`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseArchived {
    /// The course.
    pub course_id: CourseId,
    /// Its title.
    pub course_title: String,
    /// The status it left (`draft` or `published`).
    pub previous_status: CourseStatus,
    /// Every enrollment it ever had.
    pub total_enrollments: u64,
    /// Those that were completed.
    pub completed_enrollments: u64,
}

impl DomainEvent for CourseArchived {
    const NAME: &'static str = "course.archived";
    const AGGREGATE_TYPE: &'static str = "course";

    fn transition(&self) -> Option<Transition> {
        Some(Transition::new(
            self.previous_status.as_str(),
            CourseStatus::Archived.as_str(),
        ))
    }

    fn tags(&self) -> Vec<String> {
        vec![format!("course:{}", self.course_id)]
    }

    fn aggregate_id(&self) -> String {
        self.course_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "course_id": self.course_id,
            "course_title": self.course_title,
            "previous_status": self.previous_status,
            "total_enrollments": self.total_enrollments,
            "completed_enrollments": self.completed_enrollments,
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
    fn course_published_reports_the_catalog_keys_and_broadcasts_on_two_public_channels() {
        let course_id = CourseId::new();
        let event = CoursePublished {
            course_id,
            course_title: "Rust Dasar".into(),
            publisher_id: Some(UserId::new()),
            previous_status: CourseStatus::Draft,
        };
        assert_eq!(
            keys(&event.metadata()),
            ["course_id", "course_title", "previous_status", "publisher_id"]
        );
        assert_eq!(event.metadata()["previous_status"], "draft");
        let broadcast = event.broadcast().unwrap();
        assert_eq!(broadcast.name(), "course.published");
        assert_eq!(
            broadcast.channels(),
            [
                Channel::public("courses"),
                Channel::public(format!("course.{course_id}"))
            ]
        );
    }

    #[test]
    fn course_unpublished_reports_the_catalog_keys() {
        let event = CourseUnpublished {
            course_id: CourseId::new(),
            course_title: "Rust Dasar".into(),
            previous_status: CourseStatus::Published,
            active_enrollments_count: 4,
        };
        assert_eq!(
            keys(&event.metadata()),
            [
                "active_enrollments_count",
                "course_id",
                "course_title",
                "previous_status"
            ]
        );
        assert_eq!(event.metadata()["active_enrollments_count"], 4);
        assert!(event.broadcast().is_none());
    }

    #[test]
    fn course_archived_reports_the_catalog_keys() {
        let event = CourseArchived {
            course_id: CourseId::new(),
            course_title: "Rust Dasar".into(),
            previous_status: CourseStatus::Published,
            total_enrollments: 9,
            completed_enrollments: 3,
        };
        assert_eq!(
            keys(&event.metadata()),
            [
                "completed_enrollments",
                "course_id",
                "course_title",
                "previous_status",
                "total_enrollments"
            ]
        );
        assert!(event.broadcast().is_none());
    }
}
