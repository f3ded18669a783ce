//! Progress and completion: progress inside the caller's unit of work, completing once, and the
//! congratulation sent once.

use course::CourseStatus;
use enrollment::{EnrollmentCompleted, EnrollmentError, EnrollmentStatus, InvalidTransition, Percentage};
use shared_kernel::testing::drain;

use crate::support::harness;

#[tokio::test]
async fn progress_is_set_inside_the_callers_unit_of_work_and_rolls_back_with_it() {
    let (h, _) = harness().await;
    let (_, id) = h.enrolled().await;

    let mut uow = h.bus.begin();
    let inside = enrollment::set_progress_in(&mut uow, id, Percentage::new(50.0).unwrap())
        .await
        .unwrap();
    uow.rollback().await.unwrap();

    assert_eq!(inside.progress().value(), 50.0);
    assert_eq!(h.find(id).await.progress(), Percentage::ZERO);
}

#[tokio::test]
async fn a_dropped_enrollment_makes_no_progress() {
    let (h, _) = harness().await;
    let (_, id) = h.enrolled().await;
    h.enrollments.drop_out(h.learner, id, None).await.unwrap();

    let mut uow = h.bus.begin();
    let err = enrollment::set_progress_in(&mut uow, id, Percentage::FULL)
        .await
        .unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::NotActive {
            status: EnrollmentStatus::Dropped,
            ..
        }
    ));
}

#[tokio::test]
async fn completing_records_enrollment_completed_with_the_learners_name_and_time_spent() {
    let (h, _) = harness().await;
    let (course, id) = h.enrolled().await;
    let mut learners_channel = h.hub.subscribe(&format!("private-user.{}", h.learner));

    h.enrollments.complete(h.learner, id, 5400).await.unwrap();

    let completed = h.find(id).await;
    assert_eq!(completed.status(), EnrollmentStatus::Completed);
    assert!(completed.progress().is_full());
    let completed_at = completed.completed_at().expect("a completion time");
    h.fake.assert_dispatched_times::<EnrollmentCompleted>(1);
    let audit = h.audit_of(id).await;
    let row = audit.iter().find(|a| a.event_name == "enrollment.completed").unwrap();
    assert_eq!(
        row.metadata,
        serde_json::json!({
            "enrollment_id": id,
            "user_id": h.learner,
            "user_name": "Siti Rahma",
            "course_id": course,
            "course_title": "Rust Dasar",
            "enrolled_at": shared_kernel::to_db_text(completed.enrolled_at()),
            "completed_at": shared_kernel::to_db_text(completed_at),
            "total_time_spent": 5400,
        })
    );
    assert_eq!(
        learners_channel.try_recv().expect("a broadcast to the learner").event,
        "enrollment.completed"
    );
}

#[tokio::test]
async fn an_enrollment_is_completed_only_once() {
    let (h, _) = harness().await;
    let id = h.completed().await;
    let before = h.find(id).await;

    let err = h.enrollments.complete(h.learner, id, 60).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::InvalidTransition(InvalidTransition {
            from: EnrollmentStatus::Completed,
            to: EnrollmentStatus::Completed
        })
    ));
    h.fake.assert_dispatched_times::<EnrollmentCompleted>(1);
    assert_eq!(h.find(id).await, before);
}

#[tokio::test]
async fn has_completed_answers_for_completed_enrollments_only() {
    let (h, _) = harness().await;
    let (course, id) = h.enrolled().await;
    let other = h.course(CourseStatus::Published).await;
    assert!(
        !enrollment::has_completed(&mut *h.conn().await, h.learner, course)
            .await
            .unwrap()
    );

    h.enrollments.complete(h.learner, id, 60).await.unwrap();

    assert!(
        enrollment::has_completed(&mut *h.conn().await, h.learner, course)
            .await
            .unwrap()
    );
    assert!(
        !enrollment::has_completed(&mut *h.conn().await, h.learner, other)
            .await
            .unwrap()
    );
    assert!(
        !enrollment::has_completed(&mut *h.conn().await, h.instructor, course)
            .await
            .unwrap()
    );
    let dropped = h.enrollments.enroll(h.learner, h.learner, other).await.unwrap();
    h.enrollments.drop_out(h.learner, dropped, None).await.unwrap();
    assert!(
        !enrollment::has_completed(&mut *h.conn().await, h.learner, other)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_learner_is_congratulated_once_however_often_the_queues_are_drained() {
    let (h, notifications) = harness().await;
    h.completed().await;

    drain(&h.bus).await;
    drain(&h.bus).await;

    notifications.assert_sent_to(h.learner, "enrollment.completed");
    notifications.assert_sent_times("enrollment.completed", 1);
}
