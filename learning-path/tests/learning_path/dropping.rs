//! Dropping a path enrollment, and enrolling in the path again afterwards.

use enrollment::UserDropped;
use learning_path::{InvalidTransition, PathDropped, PathEnrollmentStatus, PathError};
use shared_kernel::PathEnrollmentId;
use shared_kernel::testing::drain;

use crate::support::Harness;

#[tokio::test]
async fn dropping_a_path_records_path_dropped_and_leaves_the_course_enrollments() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.fake.clear();

    h.paths.drop_out(h.learner, id, Some("  terlalu sibuk ")).await.unwrap();

    let dropped = h.path_enrollment(id).await;
    assert_eq!(dropped.status(), PathEnrollmentStatus::Dropped);
    assert!(dropped.dropped_at().is_some());
    assert_eq!(dropped.drop_reason().map(|r| r.as_str()), Some("terlalu sibuk"));
    h.fake.assert_dispatched_times::<PathDropped>(1);
    h.fake.assert_dispatched::<PathDropped>(|e| {
        e.path_enrollment_id == id && e.path_id == path && e.reason.as_deref() == Some("terlalu sibuk")
    });
    assert!(h.active_in(courses[0]).await.is_some());
    h.fake.assert_not_dispatched::<UserDropped>();

    // Completing the course afterwards no longer moves the dropped path along.
    h.complete_course(courses[0]).await;
    drain(&h.bus).await;
    assert!(h.active_in(courses[1]).await.is_none());
    assert_eq!(h.path_enrollment(id).await.status(), PathEnrollmentStatus::Dropped);
}

#[tokio::test]
async fn dropping_twice_is_an_invalid_transition_recording_nothing() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.paths.drop_out(h.learner, id, None).await.unwrap();
    h.fake.clear();

    let err = h.paths.drop_out(h.learner, id, None).await.unwrap_err();

    assert!(matches!(
        err,
        PathError::InvalidTransition(InvalidTransition {
            from: PathEnrollmentStatus::Dropped,
            to: PathEnrollmentStatus::Dropped
        })
    ));
    h.fake.assert_nothing_dispatched();
    let err = h
        .paths
        .drop_out(h.learner, PathEnrollmentId::new(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, PathError::EnrollmentNotFound(_)));
}

#[tokio::test]
async fn a_completed_path_cannot_be_dropped() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.complete_course(courses[0]).await;
    drain(&h.bus).await;

    let err = h.paths.drop_out(h.learner, id, None).await.unwrap_err();

    assert!(matches!(
        err,
        PathError::InvalidTransition(InvalidTransition {
            from: PathEnrollmentStatus::Completed,
            ..
        })
    ));
}

#[tokio::test]
async fn after_dropping_the_learner_may_enroll_in_the_path_again_and_both_are_listed() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.path_of(&courses).await;
    let first = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.paths.drop_out(h.learner, first, None).await.unwrap();

    let second = h.paths.enroll(h.learner, h.learner, path).await.unwrap();

    let listed: Vec<(PathEnrollmentId, PathEnrollmentStatus)> =
        learning_path::enrollments_of(&mut *h.conn().await, h.learner)
            .await
            .unwrap()
            .iter()
            .map(|e| (e.id(), e.status()))
            .collect();
    assert_eq!(
        listed,
        [
            (first, PathEnrollmentStatus::Dropped),
            (second, PathEnrollmentStatus::Active)
        ]
    );
    // The course enrollment left by the first path enrollment is the one used.
    assert_eq!(h.count_enrollments(courses[0]).await, 1);
}
