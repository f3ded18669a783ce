//! `RecalculateCourseProgress` through its port: alone against a mock, and a failing port rolling
//! the lesson completion back.

use std::sync::Arc;

use chrono::Utc;
use enrollment::Percentage;
use progress::{LessonCompleted, MockProgressTracking, ProgressError, RecalculateCourseProgress};
use shared_kernel::testing::TestDb;
use shared_kernel::{
    CorrelationId, CourseId, EnrollmentId, Envelope, EventBus, EventId, EventMeta, LessonId, Registry, SyncListener,
    UserId,
};

use crate::support::Harness;

#[tokio::test]
async fn recalculate_course_progress_asks_the_port_once_for_the_events_enrollment() {
    let db = TestDb::new(vec![]).await;
    let bus = EventBus::builder(db.db().clone(), Arc::new(Registry::builder().build().unwrap())).build();
    let enrollment = EnrollmentId::new();
    let mut tracking = MockProgressTracking::new();
    tracking
        .expect_recalculate_course_progress()
        .withf(move |_, asked| *asked == enrollment)
        .times(1)
        .returning(|_, _| Ok(Percentage::new(50.0).unwrap()));
    let listener = RecalculateCourseProgress::new(Arc::new(tracking));
    let event_id = EventId::new();
    let event = Envelope::new(
        EventMeta::new(
            event_id,
            Utc::now(),
            None,
            CorrelationId::from_uuid(event_id.as_uuid()),
            None,
        ),
        LessonCompleted {
            enrollment_id: enrollment,
            user_id: UserId::new(),
            lesson_id: LessonId::new(),
            lesson_title: "Pengenalan".into(),
            course_id: CourseId::new(),
            course_title: "Rust Dasar".into(),
            course_progress: 50.0,
        },
    );
    let mut uow = bus.begin();

    listener.handle(&event, &mut uow).await.unwrap();
}

#[tokio::test]
async fn a_failing_recalculation_rolls_the_lesson_completion_back() {
    let mut tracking = MockProgressTracking::new();
    tracking
        .expect_recalculate_course_progress()
        .times(1)
        .returning(|_, enrollment| Err(ProgressError::EnrollmentNotFound(enrollment)));
    let h = Harness::tracking_with(Arc::new(tracking)).await;
    let e = h.enrolled(&["Pengenalan"]).await;
    h.fake.clear();

    let err = h
        .progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap_err();

    assert!(matches!(err, ProgressError::UnitOfWork(_)));
    // None of the command's own events; only the kernel's record that it failed.
    let dispatched: Vec<&str> = h.fake.all().iter().map(|e| e.name()).collect();
    assert_eq!(dispatched, ["system.action_failed"]);
    assert_eq!(h.progress_rows().await, 0);
    let names: Vec<String> = h
        .audit_of(e.enrollment)
        .await
        .into_iter()
        .map(|a| a.event_name)
        .collect();
    assert_eq!(names, ["enrollment.created"]);
}
