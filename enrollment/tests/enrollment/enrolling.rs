//! Enrolling: published courses only, once per learner and course, the welcome after commit, and
//! every refusal leaving no row and no event.

use course::CourseStatus;
use enrollment::{EnrollmentError, EnrollmentStatus, Percentage, UserEnrolled};
use shared_kernel::testing::drain;
use shared_kernel::{CourseId, UserId};

use crate::support::harness;

#[tokio::test]
async fn enrolling_in_a_published_course_records_user_enrolled_with_the_catalog_metadata() {
    let (h, _) = harness().await;
    let course = h.course(CourseStatus::Published).await;
    let mut learners_channel = h.hub.subscribe(&format!("private-user.{}", h.learner));

    let id = h.enrollments.enroll(h.learner, h.learner, course).await.unwrap();

    let enrollment = h.find(id).await;
    assert_eq!(enrollment.status(), EnrollmentStatus::Active);
    assert_eq!(enrollment.progress(), Percentage::ZERO);
    assert_eq!(enrollment.invited_by(), None);
    h.fake.assert_dispatched_times::<UserEnrolled>(1);
    let audit = h.audit_of(id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].event_name, "enrollment.created");
    assert_eq!(
        audit[0].metadata,
        serde_json::json!({
            "enrollment_id": id,
            "user_id": h.learner,
            "course_id": course,
            "course_title": "Rust Dasar",
            "invited_by": null,
        })
    );
    let message = learners_channel.try_recv().expect("a broadcast to the learner");
    assert_eq!(message.event, "enrollment.created");
}

#[tokio::test]
async fn an_instructor_enrolling_a_learner_is_recorded_as_inviting_them() {
    let (h, _) = harness().await;
    let course = h.course(CourseStatus::Published).await;

    let id = h.enrollments.enroll(h.instructor, h.learner, course).await.unwrap();

    assert_eq!(h.find(id).await.invited_by(), Some(h.instructor));
    h.fake
        .assert_dispatched::<UserEnrolled>(|e| e.user_id == h.learner && e.invited_by == Some(h.instructor));
    assert_eq!(h.audit_of(id).await[0].actor_id, Some(h.instructor));
}

#[tokio::test]
async fn the_learner_is_welcomed_once_the_enrollment_has_committed() {
    let (h, notifications) = harness().await;
    let course = h.course(CourseStatus::Published).await;

    h.enrollments.enroll(h.learner, h.learner, course).await.unwrap();
    notifications.assert_nothing_sent();
    let report = drain(&h.bus).await;

    assert_eq!(report.processed, 1);
    notifications.assert_sent_to(h.learner, "enrollment.welcome");
    notifications.assert_sent_times("enrollment.welcome", 1);
}

#[tokio::test]
async fn enrolling_in_a_draft_course_is_refused_and_records_nothing() {
    let (h, notifications) = harness().await;
    let course = h.course(CourseStatus::Draft).await;
    h.fake.clear();

    let err = h.enrollments.enroll(h.learner, h.learner, course).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::CourseNotPublished { course: c, status: CourseStatus::Draft } if c == course
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count("enrollments").await, 0);
    drain(&h.bus).await;
    notifications.assert_nothing_sent();
}

#[tokio::test]
async fn enrolling_in_an_archived_course_is_refused_and_records_nothing() {
    let (h, _) = harness().await;
    let course = h.course(CourseStatus::Archived).await;
    h.fake.clear();

    let err = h.enrollments.enroll(h.learner, h.learner, course).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::CourseNotPublished {
            status: CourseStatus::Archived,
            ..
        }
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count("enrollments").await, 0);
}

#[tokio::test]
async fn a_second_active_enrollment_in_the_same_course_is_already_enrolled() {
    let (h, _) = harness().await;
    let (course, first) = h.enrolled().await;
    let before = h.find(first).await;
    h.fake.clear();

    let err = h.enrollments.enroll(h.instructor, h.learner, course).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::AlreadyEnrolled { user, course: c } if user == h.learner && c == course
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count("enrollments").await, 1);
    assert_eq!(h.find(first).await, before);
}

#[tokio::test]
async fn enrolling_someone_the_users_store_does_not_know_is_refused() {
    let (h, _) = harness().await;
    let course = h.course(CourseStatus::Published).await;
    let stranger = UserId::new();
    h.fake.clear();

    let err = h.enrollments.enroll(h.instructor, stranger, course).await.unwrap_err();

    assert!(matches!(err, EnrollmentError::UserNotFound(u) if u == stranger));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count("enrollments").await, 0);
}

#[tokio::test]
async fn enrolling_in_an_unknown_course_is_not_found() {
    let (h, _) = harness().await;
    let unknown = CourseId::new();

    let err = h.enrollments.enroll(h.learner, h.learner, unknown).await.unwrap_err();

    assert!(matches!(err, EnrollmentError::CourseNotFound(c) if c == unknown));
    h.fake.assert_nothing_dispatched();
}
