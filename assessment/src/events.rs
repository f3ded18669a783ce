//! The assessment context's events (DESIGN.md §5), all on the `assessment_attempt` aggregate
//! (the attempt's id). Each carries what its listeners need and reports exactly the catalog's
//! metadata keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared_kernel::{
    AssessmentId, AttemptId, Broadcast, Channel, CourseId, DomainEvent, EnrollmentId, LessonId, QuestionId, Transition,
    UserId, to_db_text,
};

use crate::domain::AttemptStatus;

const AGGREGATE: &str = "assessment_attempt";

/// A learner started an attempt (`assessment.attempt.started`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptStarted {
    /// The new attempt.
    pub attempt_id: AttemptId,
    /// The assessment.
    pub assessment_id: AssessmentId,
    /// Its title.
    pub assessment_title: String,
    /// The learner.
    pub user_id: UserId,
    /// Which of the learner's attempts it is, from 1.
    pub attempt_number: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

impl DomainEvent for AttemptStarted {
    const NAME: &'static str = "assessment.attempt.started";
    const AGGREGATE_TYPE: &'static str = AGGREGATE;

    fn tags(&self) -> Vec<String> {
        vec![
            format!("assessment:{}", self.assessment_id),
            format!("user:{}", self.user_id),
            format!("attempt:{}", self.attempt_id),
        ]
    }

    fn aggregate_id(&self) -> String {
        self.attempt_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "attempt_id": self.attempt_id,
            "assessment_id": self.assessment_id,
            "assessment_title": self.assessment_title,
            "user_id": self.user_id,
            "attempt_number": self.attempt_number,
            "started_at": to_db_text(self.started_at),
        })
    }
}

/// A learner submitted an attempt (`assessment.submitted`). Multiple-choice answers are graded
/// by then; `requires_manual_grading` says whether open answers wait for the instructor (if not,
/// an [`AssessmentGraded`] follows in the same transaction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssessmentSubmitted {
    /// The attempt.
    pub attempt_id: AttemptId,
    /// The assessment.
    pub assessment_id: AssessmentId,
    /// The learner.
    pub user_id: UserId,
    /// The attempt's status after the submission: `submitted` (waiting for grading) or `graded`.
    pub status: String,
    /// Whether open answers wait for the instructor.
    pub requires_manual_grading: bool,
}

impl DomainEvent for AssessmentSubmitted {
    const NAME: &'static str = "assessment.submitted";
    const AGGREGATE_TYPE: &'static str = AGGREGATE;

    fn transition(&self) -> Option<Transition> {
        Some(Transition::new(
            AttemptStatus::InProgress.as_str(),
            AttemptStatus::Submitted.as_str(),
        ))
    }

    fn tags(&self) -> Vec<String> {
        vec![
            format!("assessment:{}", self.assessment_id),
            format!("user:{}", self.user_id),
            format!("attempt:{}", self.attempt_id),
        ]
    }

    fn aggregate_id(&self) -> String {
        self.attempt_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "attempt_id": self.attempt_id,
            "assessment_id": self.assessment_id,
            "user_id": self.user_id,
            "status": self.status,
            "requires_manual_grading": self.requires_manual_grading,
        })
    }
}

/// The instructor graded one open answer (`assessment.answer.graded`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerGraded {
    /// The attempt.
    pub attempt_id: AttemptId,
    /// The question answered.
    pub question_id: QuestionId,
    /// The points awarded.
    pub points: u32,
    /// What the question is worth.
    pub max_points: u32,
    /// The instructor.
    pub graded_by: UserId,
}

impl DomainEvent for AnswerGraded {
    const NAME: &'static str = "assessment.answer.graded";
    const AGGREGATE_TYPE: &'static str = AGGREGATE;

    fn tags(&self) -> Vec<String> {
        vec![format!("attempt:{}", self.attempt_id)]
    }

    fn aggregate_id(&self) -> String {
        self.attempt_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "attempt_id": self.attempt_id,
            "question_id": self.question_id,
            "points": self.points,
            "max_points": self.max_points,
            "graded_by": self.graded_by,
        })
    }
}

/// Every answer of an attempt is graded (`assessment.graded`): at submission when nothing needed
/// the instructor, else with the last [`AnswerGraded`]. Broadcast on the learner's private
/// `user.{user_id}` channel. `lesson_id` and `enrollment_id` let `progress` complete the
/// assessment lesson of a passed attempt in the same transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssessmentGraded {
    /// The attempt.
    pub attempt_id: AttemptId,
    /// The assessment.
    pub assessment_id: AssessmentId,
    /// Its title.
    pub assessment_title: String,
    /// The learner.
    pub user_id: UserId,
    /// The assessment's course.
    pub course_id: CourseId,
    /// The course lesson the assessment is, if any.
    pub lesson_id: Option<LessonId>,
    /// The learner's enrollment the attempt was made in.
    pub enrollment_id: EnrollmentId,
    /// The points earned.
    pub score: u32,
    /// The most points there were.
    pub max_score: u32,
    /// The score as a percentage of the maximum, rounded to two decimals.
    pub percentage: f64,
    /// Whether the score reached the passing score (`score * 100 >= passing_score * max_score`).
    pub passed: bool,
    /// The instructor whose grading completed it; `None` when graded automatically.
    pub graded_by: Option<UserId>,
}

impl DomainEvent for AssessmentGraded {
    const NAME: &'static str = "assessment.graded";
    const AGGREGATE_TYPE: &'static str = AGGREGATE;

    fn transition(&self) -> Option<Transition> {
        Some(Transition::new(
            AttemptStatus::Submitted.as_str(),
            AttemptStatus::Graded.as_str(),
        ))
    }

    fn tags(&self) -> Vec<String> {
        vec![
            format!("course:{}", self.course_id),
            format!("assessment:{}", self.assessment_id),
            format!("user:{}", self.user_id),
            format!("enrollment:{}", self.enrollment_id),
            format!("attempt:{}", self.attempt_id),
        ]
    }

    fn aggregate_id(&self) -> String {
        self.attempt_id.to_string()
    }

    fn metadata(&self) -> Value {
        json!({
            "attempt_id": self.attempt_id,
            "assessment_id": self.assessment_id,
            "user_id": self.user_id,
            "score": self.score,
            "max_score": self.max_score,
            "percentage": self.percentage,
            "passed": self.passed,
            "graded_by": self.graded_by,
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
    fn attempt_started_submitted_and_answer_graded_report_the_catalog_keys_and_are_not_broadcast() {
        let started = AttemptStarted {
            attempt_id: AttemptId::new(),
            assessment_id: AssessmentId::new(),
            assessment_title: "Kuis".into(),
            user_id: UserId::new(),
            attempt_number: 1,
            started_at: Utc::now(),
        };
        let submitted = AssessmentSubmitted {
            attempt_id: AttemptId::new(),
            assessment_id: AssessmentId::new(),
            user_id: UserId::new(),
            status: "submitted".into(),
            requires_manual_grading: true,
        };
        let answer = AnswerGraded {
            attempt_id: AttemptId::new(),
            question_id: QuestionId::new(),
            points: 3,
            max_points: 5,
            graded_by: UserId::new(),
        };
        assert_eq!(
            keys(&started.metadata()),
            [
                "assessment_id",
                "assessment_title",
                "attempt_id",
                "attempt_number",
                "started_at",
                "user_id"
            ]
        );
        assert_eq!(
            keys(&submitted.metadata()),
            [
                "assessment_id",
                "attempt_id",
                "requires_manual_grading",
                "status",
                "user_id"
            ]
        );
        assert_eq!(
            keys(&answer.metadata()),
            ["attempt_id", "graded_by", "max_points", "points", "question_id"]
        );
        assert!(started.broadcast().is_none() && submitted.broadcast().is_none() && answer.broadcast().is_none());
        assert_eq!(started.aggregate_id(), started.attempt_id.to_string());
    }

    #[test]
    fn assessment_graded_reports_the_catalog_keys_goes_to_the_learner_and_round_trips() {
        let user_id = UserId::new();
        let event = AssessmentGraded {
            attempt_id: AttemptId::new(),
            assessment_id: AssessmentId::new(),
            assessment_title: "Kuis".into(),
            user_id,
            course_id: CourseId::new(),
            lesson_id: Some(LessonId::new()),
            enrollment_id: EnrollmentId::new(),
            score: 7,
            max_score: 10,
            percentage: 70.0,
            passed: true,
            graded_by: None,
        };
        assert_eq!(
            keys(&event.metadata()),
            [
                "assessment_id",
                "attempt_id",
                "graded_by",
                "max_score",
                "passed",
                "percentage",
                "score",
                "user_id"
            ]
        );
        let broadcast = event.broadcast().unwrap();
        assert_eq!(broadcast.name(), "assessment.graded");
        assert_eq!(broadcast.channels(), [Channel::private(format!("user.{user_id}"))]);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(serde_json::from_value::<AssessmentGraded>(json).unwrap(), event);
    }
}
