//! The progress context's learning records as xAPI statements (see the README's mapping
//! table): a lesson completed → `completed` the lesson, its course the parent, the enrollment
//! the registration. `ProgressUpdated` is not a learning record (and is not audited).

use shared_kernel::Envelope;
use shared_kernel::integrations::xapi::{ActivityKind, Outcome, Statement, ToXapi, Verb, XapiMappings, XapiProfile};

use crate::events::LessonCompleted;

/// Adds this context's mapped events to `mappings`.
pub fn xapi_mappings(mappings: XapiMappings) -> XapiMappings {
    mappings.map::<LessonCompleted>()
}

impl ToXapi for LessonCompleted {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        vec![
            profile
                .statement(
                    event,
                    e.user_id,
                    Verb::COMPLETED,
                    (ActivityKind::Lesson, e.lesson_id, &e.lesson_title),
                    e.enrollment_id.as_uuid(),
                )
                .result(Outcome::completed())
                .parent(profile.activity(ActivityKind::Course, e.course_id, &e.course_title)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::{CorrelationId, CourseId, EnrollmentId, EventId, EventMeta, LessonId, UserId};

    use super::*;

    #[test]
    fn a_completed_lesson_is_completed_within_its_course_and_enrollment() {
        let (user, course, lesson, enrollment) = (UserId::new(), CourseId::new(), LessonId::new(), EnrollmentId::new());
        let meta = EventMeta::new(EventId::new(), chrono::Utc::now(), None, CorrelationId::new(), None);
        let event = Envelope::new(
            meta,
            LessonCompleted {
                enrollment_id: enrollment,
                user_id: user,
                lesson_id: lesson,
                lesson_title: "Ownership".to_owned(),
                course_id: course,
                course_title: "Rust".to_owned(),
                course_progress: 50.0,
            },
        );
        let statements = LessonCompleted::statements(&event, &XapiProfile::new("https://lms.example"));
        assert_eq!(statements.len(), 1);
        let json = statements[0].to_json();
        assert_eq!(json["verb"]["id"], "http://adlnet.gov/expapi/verbs/completed");
        assert_eq!(json["object"]["id"], format!("https://lms.example/lessons/{lesson}"));
        assert_eq!(
            json["object"]["definition"]["type"],
            "http://adlnet.gov/expapi/activities/lesson"
        );
        assert_eq!(json["result"]["completion"], true);
        assert_eq!(json["context"]["registration"], enrollment.to_string());
        assert_eq!(
            json["context"]["contextActivities"]["parent"][0]["id"],
            format!("https://lms.example/courses/{course}")
        );
        assert_eq!(xapi_mappings(XapiMappings::new()).events(), ["lesson.completed"]);
    }
}
