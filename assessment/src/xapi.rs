//! The assessment context's learning records as xAPI statements (see the README's mapping
//! table): an attempt started → `attempted` (with its number), an attempt graded → `passed` or
//! `failed` with the score (raw, min 0, max, scaled) and success, the enrollment the
//! registration, the lesson the parent and the course the grouping.

use serde_json::json;
use shared_kernel::Envelope;
use shared_kernel::integrations::xapi::{
    ActivityKind, Outcome, Score, Statement, ToXapi, Verb, XapiMappings, XapiProfile,
};

use crate::events::{AssessmentGraded, AttemptStarted};

/// Adds this context's mapped events to `mappings`.
pub fn xapi_mappings(mappings: XapiMappings) -> XapiMappings {
    mappings.map::<AttemptStarted>().map::<AssessmentGraded>()
}

impl ToXapi for AttemptStarted {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        // The event names no course nor enrollment, and a statement is built from the event
        // alone: this one has no registration.
        vec![
            Statement::new(
                event.meta(),
                profile.actor(e.user_id),
                Verb::ATTEMPTED,
                profile.activity(ActivityKind::Assessment, e.assessment_id, &e.assessment_title),
            )
            .extension(profile.extension("attempt-number"), json!(e.attempt_number)),
        ]
    }
}

impl ToXapi for AssessmentGraded {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        let verb = if e.passed { Verb::PASSED } else { Verb::FAILED };
        let course = profile.activity(ActivityKind::Course, e.course_id, "");
        let statement = profile
            .statement(
                event,
                e.user_id,
                verb,
                (ActivityKind::Assessment, e.assessment_id, &e.assessment_title),
                e.enrollment_id.as_uuid(),
            )
            .result(Outcome::graded(Score::of(e.score, e.max_score), e.passed));
        let statement = match e.lesson_id {
            Some(lesson) => statement
                .parent(profile.activity(ActivityKind::Lesson, lesson, ""))
                .grouping(course),
            None => statement.parent(course),
        };
        vec![statement]
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::{
        AssessmentId, AttemptId, CorrelationId, CourseId, EnrollmentId, EventId, EventMeta, LessonId, UserId,
    };

    use super::*;

    fn graded(score: u32, max_score: u32, passed: bool, lesson: Option<LessonId>) -> Envelope<AssessmentGraded> {
        let meta = EventMeta::new(EventId::new(), chrono::Utc::now(), None, CorrelationId::new(), None);
        Envelope::new(
            meta,
            AssessmentGraded {
                attempt_id: AttemptId::new(),
                assessment_id: AssessmentId::new(),
                assessment_title: "Kuis".to_owned(),
                user_id: UserId::new(),
                course_id: CourseId::new(),
                lesson_id: lesson,
                enrollment_id: EnrollmentId::new(),
                score,
                max_score,
                percentage: if max_score == 0 {
                    0.0
                } else {
                    f64::from(score) * 100.0 / f64::from(max_score)
                },
                passed,
                graded_by: None,
            },
        )
    }

    fn profile() -> XapiProfile {
        XapiProfile::new("https://lms.example")
    }

    #[test]
    fn a_passing_grade_is_passed_with_the_score_and_success() {
        let lesson = LessonId::new();
        let event = graded(8, 10, true, Some(lesson));
        let json = AssessmentGraded::statements(&event, &profile())[0].to_json();
        assert_eq!(json["verb"]["id"], "http://adlnet.gov/expapi/verbs/passed");
        assert_eq!(
            json["result"]["score"],
            json!({"scaled": 0.8, "raw": 8.0, "min": 0.0, "max": 10.0})
        );
        assert_eq!(json["result"]["success"], true);
        assert_eq!(json["result"]["completion"], true);
        assert_eq!(json["context"]["registration"], event.event().enrollment_id.to_string());
        assert_eq!(
            json["context"]["contextActivities"]["parent"][0]["id"],
            format!("https://lms.example/lessons/{lesson}")
        );
        assert_eq!(
            json["context"]["contextActivities"]["grouping"][0]["id"],
            format!("https://lms.example/courses/{}", event.event().course_id)
        );
    }

    #[test]
    fn a_failing_grade_is_failed_without_success_and_its_course_is_the_parent() {
        let event = graded(3, 10, false, None);
        let statements = AssessmentGraded::statements(&event, &profile());
        let json = statements[0].to_json();
        assert_eq!(json["verb"]["id"], "http://adlnet.gov/expapi/verbs/failed");
        assert_eq!(json["result"]["score"]["scaled"], 0.3);
        assert_eq!(json["result"]["success"], false);
        assert_eq!(
            json["context"]["contextActivities"]["parent"][0]["id"],
            format!("https://lms.example/courses/{}", event.event().course_id)
        );
        assert_ne!(
            statements[0].id(),
            AssessmentGraded::statements(&graded(8, 10, true, None), &profile())[0].id()
        );
    }

    #[test]
    fn a_started_attempt_is_attempted_with_its_number() {
        let meta = EventMeta::new(EventId::new(), chrono::Utc::now(), None, CorrelationId::new(), None);
        let event = Envelope::new(
            meta,
            AttemptStarted {
                attempt_id: AttemptId::new(),
                assessment_id: AssessmentId::new(),
                assessment_title: "Kuis".to_owned(),
                user_id: UserId::new(),
                attempt_number: 2,
                started_at: chrono::Utc::now(),
            },
        );
        let json = AttemptStarted::statements(&event, &profile())[0].to_json();
        assert_eq!(json["verb"]["id"], "http://adlnet.gov/expapi/verbs/attempted");
        assert_eq!(
            json["context"]["extensions"]["https://lms.example/xapi/extensions/attempt-number"],
            2
        );
        assert!(json["context"].get("registration").is_none());
        assert_eq!(
            xapi_mappings(XapiMappings::new()).events(),
            ["assessment.attempt.started", "assessment.graded"]
        );
    }
}
