//! The progress context's events (DESIGN.md §5). Both belong to the enrollment aggregate and go
//! live to the learner's private `user.{user_id}` channel.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared_kernel::{Broadcast, Channel, CourseId, DomainEvent, EnrollmentId, LessonId, UserId};

/// A learner completed a lesson (`lesson.completed`). `RecalculateCourseProgress` handles it in
/// the same transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonCompleted {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// The learner.
    pub user_id: UserId,
    /// The lesson.
    pub lesson_id: LessonId,
    /// Its title.
    pub lesson_title: String,
    /// The course.
    pub course_id: CourseId,
    /// Its title.
    pub course_title: String,
    /// The course progress this completion brings the learner to, in percent.
    pub course_progress: f64,
}

impl DomainEvent for LessonCompleted {
    const NAME: &'static str = "lesson.completed";
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
            "lesson_id": self.lesson_id,
            "lesson_title": self.lesson_title,
            "course_id": self.course_id,
            "course_title": self.course_title,
            "course_progress": self.course_progress,
        })
    }

    fn broadcast(&self) -> Option<Broadcast> {
        Some(Broadcast::new(
            Self::NAME,
            vec![Channel::private(format!("user.{}", self.user_id))],
        ))
    }
}

/// A learner's progress through a lesson moved (`progress.updated`): a live dashboard update,
/// broadcast only and, by the catalog, not audited (too noisy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressUpdated {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// The learner.
    pub user_id: UserId,
    /// The lesson.
    pub lesson_id: LessonId,
    /// The course progress, in percent.
    pub course_progress: f64,
    /// The lesson's progress, in percent.
    pub lesson_progress: f64,
    /// Whether the lesson is completed.
    pub is_completed: bool,
}

impl DomainEvent for ProgressUpdated {
    const NAME: &'static str = "progress.updated";
    const AGGREGATE_TYPE: &'static str = "enrollment";

    fn tags(&self) -> Vec<String> {
        vec![
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
            "lesson_id": self.lesson_id,
            "course_progress": self.course_progress,
            "lesson_progress": self.lesson_progress,
            "is_completed": self.is_completed,
        })
    }

    fn broadcast(&self) -> Option<Broadcast> {
        Some(Broadcast::new(
            Self::NAME,
            vec![Channel::private(format!("user.{}", self.user_id))],
        ))
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
    fn lesson_completed_reports_the_catalog_keys_and_goes_to_the_learners_private_channel() {
        let user_id = UserId::new();
        let event = LessonCompleted {
            enrollment_id: EnrollmentId::new(),
            user_id,
            lesson_id: LessonId::new(),
            lesson_title: "Pengenalan".into(),
            course_id: CourseId::new(),
            course_title: "Rust Dasar".into(),
            course_progress: 50.0,
        };
        assert_eq!(
            keys(&event.metadata()),
            [
                "course_id",
                "course_progress",
                "course_title",
                "enrollment_id",
                "lesson_id",
                "lesson_title",
                "user_id"
            ]
        );
        let broadcast = event.broadcast().unwrap();
        assert_eq!(broadcast.name(), "lesson.completed");
        assert_eq!(broadcast.channels(), [Channel::private(format!("user.{user_id}"))]);
    }

    #[test]
    fn progress_updated_reports_the_catalog_keys_and_goes_to_the_learners_private_channel() {
        let user_id = UserId::new();
        let event = ProgressUpdated {
            enrollment_id: EnrollmentId::new(),
            user_id,
            lesson_id: LessonId::new(),
            course_progress: 50.0,
            lesson_progress: 30.0,
            is_completed: false,
        };
        assert_eq!(
            keys(&event.metadata()),
            [
                "course_progress",
                "enrollment_id",
                "is_completed",
                "lesson_id",
                "lesson_progress",
                "user_id"
            ]
        );
        assert_eq!(event.broadcast().unwrap().name(), "progress.updated");
    }
}
