//! The learning-path context's learning records as xAPI statements (see the README's mapping
//! table): enrolled in a path → `registered`, path completed → `completed`, path dropped →
//! `exited`; each about the path, with the path enrollment as its registration. A course
//! unlocked in a path is not a learning record (the course's own enrollment is).

use shared_kernel::Envelope;
use shared_kernel::integrations::xapi::{ActivityKind, Outcome, Statement, ToXapi, Verb, XapiMappings, XapiProfile};

use crate::events::{PathCompleted, PathDropped, PathEnrollmentCreated};

/// Adds this context's mapped events to `mappings`.
pub fn xapi_mappings(mappings: XapiMappings) -> XapiMappings {
    mappings
        .map::<PathEnrollmentCreated>()
        .map::<PathCompleted>()
        .map::<PathDropped>()
}

impl ToXapi for PathEnrollmentCreated {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        vec![profile.statement(
            event,
            e.user_id,
            Verb::REGISTERED,
            (ActivityKind::LearningPath, e.path_id, &e.path_title),
            e.path_enrollment_id.as_uuid(),
        )]
    }
}

impl ToXapi for PathCompleted {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        vec![
            profile
                .statement(
                    event,
                    e.user_id,
                    Verb::COMPLETED,
                    (ActivityKind::LearningPath, e.path_id, &e.path_title),
                    e.path_enrollment_id.as_uuid(),
                )
                .result(Outcome::completed()),
        ]
    }
}

impl ToXapi for PathDropped {
    fn statements(event: &Envelope<Self>, profile: &XapiProfile) -> Vec<Statement> {
        let e = event.event();
        vec![profile.statement(
            event,
            e.user_id,
            Verb::EXITED,
            (ActivityKind::LearningPath, e.path_id, ""),
            e.path_enrollment_id.as_uuid(),
        )]
    }
}

#[cfg(test)]
mod tests {
    use shared_kernel::{LearningPathId, PathEnrollmentId, UserId};

    use super::*;

    use shared_kernel::testing::envelope;

    #[test]
    fn a_path_is_registered_completed_and_exited_with_the_path_enrollment_as_registration() {
        let profile = XapiProfile::new("https://lms.example");
        let (path, user, enrollment) = (LearningPathId::new(), UserId::new(), PathEnrollmentId::new());
        let created = envelope(PathEnrollmentCreated {
            path_enrollment_id: enrollment,
            path_id: path,
            path_title: "Backend".to_owned(),
            user_id: user,
        });
        let completed = envelope(PathCompleted {
            path_enrollment_id: enrollment,
            path_id: path,
            path_title: "Backend".to_owned(),
            user_id: user,
            completed_at: chrono::Utc::now(),
        });
        let dropped = envelope(PathDropped {
            path_enrollment_id: enrollment,
            path_id: path,
            user_id: user,
            reason: None,
        });
        let verbs = [
            PathEnrollmentCreated::statements(&created, &profile)[0].to_json(),
            PathCompleted::statements(&completed, &profile)[0].to_json(),
            PathDropped::statements(&dropped, &profile)[0].to_json(),
        ];
        for (json, verb) in verbs.iter().zip(["registered", "completed", "exited"]) {
            assert_eq!(json["verb"]["id"], format!("http://adlnet.gov/expapi/verbs/{verb}"));
            assert_eq!(
                json["object"]["id"],
                format!("https://lms.example/learning-paths/{path}")
            );
            assert_eq!(json["context"]["registration"], enrollment.to_string());
        }
        assert_eq!(verbs[1]["result"]["completion"], true);
        assert_eq!(
            xapi_mappings(XapiMappings::new()).events(),
            [
                "learning_path.enrollment.created",
                "learning_path.completed",
                "learning_path.dropped"
            ]
        );
    }
}
