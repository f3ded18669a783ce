//! The enrollment context's learning records as xAPI statements (see the README's mapping
//! table): enrolled and re-enrolled → `registered`, completed → `completed` (with the time
//! spent), dropped → `exited`; each about the course, with the enrollment as its registration.

use shared_kernel::Envelope;
use shared_kernel::integrations::xapi::{ActivityKind, Outcome, Statement, ToXapi, Verb, XapiMappings, XapiProfile};

use crate::events::{EnrollmentCompleted, UserDropped, UserEnrolled, UserReenrolled};

/// Adds this context's mapped events to `mappings`.
pub fn xapi_mappings(mappings: XapiMappings) -> XapiMappings {
    mappings
        .map::<UserEnrolled>()
        .map::<UserReenrolled>()
        .map::<EnrollmentCompleted>()
        .map::<UserDropped>()
}

impl ToXapi for UserEnrolled {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        vec![profile.statement(
            event,
            e.user_id,
            Verb::REGISTERED,
            (ActivityKind::Course, e.course_id, &e.course_title),
            e.enrollment_id.as_uuid(),
        )]
    }
}

impl ToXapi for UserReenrolled {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        vec![profile.statement(
            event,
            e.user_id,
            Verb::REGISTERED,
            (ActivityKind::Course, e.course_id, ""),
            e.enrollment_id.as_uuid(),
        )]
    }
}

impl ToXapi for EnrollmentCompleted {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        vec![
            profile
                .statement(
                    event,
                    e.user_id,
                    Verb::COMPLETED,
                    (ActivityKind::Course, e.course_id, &e.course_title),
                    e.enrollment_id.as_uuid(),
                )
                .result(Outcome::completed().took_seconds(e.total_time_spent)),
        ]
    }
}

impl ToXapi for UserDropped {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        vec![profile.statement(
            event,
            e.user_id,
            Verb::EXITED,
            (ActivityKind::Course, e.course_id, ""),
            e.enrollment_id.as_uuid(),
        )]
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::{CourseId, EnrollmentId, UserId};

    use super::*;

    use shared_kernel::testing::envelope;

    fn profile() -> XapiProfile {
        XapiProfile::new("https://lms.example")
    }

    #[test]
    fn an_enrollment_is_registered_in_the_course_with_the_enrollment_as_registration() {
        let (user, course, enrollment) = (UserId::new(), CourseId::new(), EnrollmentId::new());
        let event = envelope(UserEnrolled {
            enrollment_id: enrollment,
            user_id: user,
            course_id: course,
            course_title: "Rust".to_owned(),
            invited_by: None,
        });
        let statements = UserEnrolled::statements(&event, &profile());
        assert_eq!(statements.len(), 1);
        let json = statements[0].to_json();
        assert_eq!(json["verb"]["id"], "http://adlnet.gov/expapi/verbs/registered");
        assert_eq!(json["actor"]["account"]["name"], user.to_string());
        assert_eq!(json["object"]["id"], format!("https://lms.example/courses/{course}"));
        assert_eq!(json["object"]["definition"]["name"]["en-US"], "Rust");
        assert_eq!(json["context"]["registration"], enrollment.to_string());
        assert_eq!(
            statements[0].id(),
            shared_kernel::integrations::xapi::statement_id(event.event_id(), &Verb::REGISTERED)
        );
    }

    #[test]
    fn a_completed_course_says_completed_with_the_time_spent() {
        let event = envelope(EnrollmentCompleted {
            enrollment_id: EnrollmentId::new(),
            user_id: UserId::new(),
            user_name: Some("Siti".to_owned()),
            course_id: CourseId::new(),
            course_title: "Rust".to_owned(),
            enrolled_at: chrono::Utc::now(),
            completed_at: chrono::Utc::now(),
            total_time_spent: 5400,
        });
        let json = EnrollmentCompleted::statements(&event, &profile())[0].to_json();
        assert_eq!(json["verb"]["id"], "http://adlnet.gov/expapi/verbs/completed");
        assert_eq!(json["result"]["completion"], true);
        assert_eq!(json["result"]["duration"], "PT5400S");
        assert!(!json.to_string().contains("Siti"), "no learner name leaves");
    }

    #[test]
    fn a_drop_exits_the_course_and_a_reenrollment_registers_again() {
        let (user, course, enrollment) = (UserId::new(), CourseId::new(), EnrollmentId::new());
        let dropped = envelope(UserDropped {
            enrollment_id: enrollment,
            user_id: user,
            course_id: course,
            reason: Some("busy".to_owned()),
            progress_at_drop: 40.0,
        });
        let json = UserDropped::statements(&dropped, &profile())[0].to_json();
        assert_eq!(json["verb"]["id"], "http://adlnet.gov/expapi/verbs/exited");
        assert_eq!(json["context"]["registration"], enrollment.to_string());
        let back = envelope(UserReenrolled {
            enrollment_id: enrollment,
            user_id: user,
            course_id: course,
            previous_status: crate::EnrollmentStatus::Dropped,
        });
        let json = UserReenrolled::statements(&back, &profile())[0].to_json();
        assert_eq!(json["verb"]["id"], "http://adlnet.gov/expapi/verbs/registered");
        assert_eq!(json["object"]["id"], format!("https://lms.example/courses/{course}"));
    }

    #[test]
    fn every_enrollment_event_with_a_learning_record_is_mapped() {
        assert_eq!(
            xapi_mappings(XapiMappings::new()).events(),
            [
                "enrollment.created",
                "enrollment.reenrolled",
                "enrollment.completed",
                "enrollment.dropped"
            ]
        );
    }
}
