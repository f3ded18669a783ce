//! Dropping and re-enrolling: the reason and progress at drop, and the transitions refused.

use course::CourseStatus;
use enrollment::{EnrollmentError, EnrollmentStatus, InvalidTransition, Percentage, UserDropped, UserReenrolled};

use crate::support::harness;

#[tokio::test]
async fn dropping_an_active_enrollment_records_the_reason_and_the_progress_at_drop() {
    let (h, _) = harness().await;
    let (course, id) = h.enrolled().await;
    let mut uow = h.bus.begin();
    enrollment::set_progress_in(&mut uow, id, Percentage::new(40.0).unwrap())
        .await
        .unwrap();
    uow.commit().await.unwrap();

    h.enrollments
        .drop_out(h.learner, id, Some("  pindah kerja  "))
        .await
        .unwrap();

    let dropped = h.find(id).await;
    assert_eq!(dropped.status(), EnrollmentStatus::Dropped);
    assert_eq!(dropped.drop_reason().map(|r| r.as_str()), Some("pindah kerja"));
    h.fake.assert_dispatched::<UserDropped>(|e| {
        e.enrollment_id == id
            && e.course_id == course
            && e.reason.as_deref() == Some("pindah kerja")
            && e.progress_at_drop == 40.0
    });
    let audit = h.audit_of(id).await;
    let row = audit.iter().find(|a| a.event_name == "enrollment.dropped").unwrap();
    assert_eq!(row.metadata["progress_at_drop"], 40.0);
    assert_eq!(row.metadata["reason"], "pindah kerja");
}

#[tokio::test]
async fn a_completed_enrollment_cannot_be_dropped() {
    let (h, _) = harness().await;
    let id = h.completed().await;
    let before = h.find(id).await;
    h.fake.clear();

    let err = h.enrollments.drop_out(h.learner, id, None).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::InvalidTransition(InvalidTransition {
            from: EnrollmentStatus::Completed,
            to: EnrollmentStatus::Dropped
        })
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(id).await, before);
}

#[tokio::test]
async fn re_enrolling_a_dropped_enrollment_keeps_its_progress() {
    let (h, _) = harness().await;
    let (_, id) = h.enrolled().await;
    let mut uow = h.bus.begin();
    enrollment::set_progress_in(&mut uow, id, Percentage::new(60.0).unwrap())
        .await
        .unwrap();
    uow.commit().await.unwrap();
    h.enrollments.drop_out(h.learner, id, None).await.unwrap();

    h.enrollments.reenroll(h.learner, id).await.unwrap();

    let back = h.find(id).await;
    assert_eq!(back.status(), EnrollmentStatus::Active);
    assert_eq!(back.progress().value(), 60.0);
    assert_eq!(back.dropped_at(), None);
    h.fake.assert_dispatched::<UserReenrolled>(|e| {
        e.enrollment_id == id && e.previous_status == EnrollmentStatus::Dropped
    });
    let names: Vec<String> = h.audit_of(id).await.into_iter().map(|a| a.event_name).collect();
    assert_eq!(
        names,
        ["enrollment.created", "enrollment.dropped", "enrollment.reenrolled"]
    );
}

#[tokio::test]
async fn re_enrolling_an_active_enrollment_is_refused() {
    let (h, _) = harness().await;
    let (_, id) = h.enrolled().await;
    let before = h.find(id).await;
    h.fake.clear();

    let err = h.enrollments.reenroll(h.learner, id).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::InvalidTransition(InvalidTransition {
            from: EnrollmentStatus::Active,
            to: EnrollmentStatus::Active
        })
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(id).await, before);
}

#[tokio::test]
async fn re_enrolling_after_enrolling_anew_is_already_enrolled() {
    let (h, _) = harness().await;
    let (course, first) = h.enrolled().await;
    h.enrollments.drop_out(h.learner, first, None).await.unwrap();
    h.enrollments.enroll(h.learner, h.learner, course).await.unwrap();
    h.fake.clear();

    let err = h.enrollments.reenroll(h.learner, first).await.unwrap_err();

    assert!(matches!(err, EnrollmentError::AlreadyEnrolled { .. }));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(first).await.status(), EnrollmentStatus::Dropped);
}

#[tokio::test]
async fn re_enrolling_in_a_course_that_was_unpublished_is_refused() {
    let (h, _) = harness().await;
    let (course, id) = h.enrolled().await;
    h.enrollments.drop_out(h.learner, id, None).await.unwrap();
    h.courses.unpublish(h.instructor, course).await.unwrap();
    h.fake.clear();

    let err = h.enrollments.reenroll(h.learner, id).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::CourseNotPublished {
            status: CourseStatus::Draft,
            ..
        }
    ));
    h.fake.assert_nothing_dispatched();
}
