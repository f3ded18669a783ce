//! Completing lessons: the course progress, the enrollment completed once in the same cascade,
//! its certificate, and every refusal leaving no row and no event.

use enrollment::{EnrollmentCompleted, EnrollmentStatus, Percentage};
use progress::{LessonCompleted, LessonCompletion, ProgressError};
use shared_kernel::testing::drain;
use shared_kernel::{EnrollmentId, LessonId};

use crate::support::Harness;

#[tokio::test]
async fn completing_a_lesson_records_lesson_completed_and_moves_the_course_progress() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Ownership"]).await;
    let mut learners_channel = h.hub.subscribe(&format!("private-user.{}", h.learner));

    let outcome = h
        .progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();

    let half = Percentage::new(50.0).unwrap();
    assert_eq!(outcome, LessonCompletion::Completed { course_progress: half });
    assert_eq!(h.enrollment(e.enrollment).await.progress(), half);
    assert!(
        h.lesson_progress(e.enrollment, e.lessons[0])
            .await
            .unwrap()
            .is_completed()
    );
    h.fake.assert_dispatched_times::<LessonCompleted>(1);
    h.fake.assert_not_dispatched::<EnrollmentCompleted>();
    let audit = h.audit_of(e.enrollment).await;
    let row = audit.iter().find(|a| a.event_name == "lesson.completed").unwrap();
    assert_eq!(
        row.metadata,
        serde_json::json!({
            "enrollment_id": e.enrollment,
            "user_id": h.learner,
            "lesson_id": e.lessons[0],
            "lesson_title": "Pengenalan",
            "course_id": e.course,
            "course_title": "Rust Dasar",
            "course_progress": 50.0,
        })
    );
    assert_eq!(learners_channel.try_recv().unwrap().event, "lesson.completed");
}

#[tokio::test]
async fn completing_the_last_lesson_completes_the_enrollment_exactly_once_in_the_same_cascade() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Ownership"]).await;
    h.progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 600)
        .await
        .unwrap();
    h.progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[1], 900)
        .await
        .unwrap();
    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();

    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[1])
        .await
        .unwrap();
    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[1])
        .await
        .unwrap();

    let completed = h.enrollment(e.enrollment).await;
    assert_eq!(completed.status(), EnrollmentStatus::Completed);
    assert!(completed.progress().is_full());
    h.fake.assert_dispatched_times::<EnrollmentCompleted>(1);
    let completion = h.fake.dispatched::<EnrollmentCompleted>().remove(0);
    let last_lesson = h.fake.dispatched::<LessonCompleted>().remove(1);
    assert_eq!(completion.event().total_time_spent, 1500);
    assert_eq!(completion.event().user_name.as_deref(), Some("Siti Rahma"));
    assert_eq!(completion.meta().causation_id(), Some(last_lesson.event_id()));
    assert_eq!(completion.meta().correlation_id(), last_lesson.meta().correlation_id());
    assert_eq!(last_lesson.event().course_progress, 100.0);
    let names: Vec<String> = h
        .audit_of(e.enrollment)
        .await
        .into_iter()
        .map(|a| a.event_name)
        .collect();
    assert_eq!(
        names,
        [
            "enrollment.created",
            "lesson.completed",
            "lesson.completed",
            "enrollment.completed"
        ]
    );
}

#[tokio::test]
async fn the_completed_enrollment_gets_its_certificate_once_the_queue_is_drained() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan"]).await;
    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();

    drain(&h.bus).await;

    let certificate = enrollment::certificate_of(&mut *h.conn().await, e.enrollment)
        .await
        .unwrap();
    assert!(certificate.is_some());
}

#[tokio::test]
async fn a_second_completion_of_a_lesson_records_nothing_and_writes_nothing() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Ownership"]).await;
    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();
    let progress_before = h.lesson_progress(e.enrollment, e.lessons[0]).await;
    let enrollment_before = h.enrollment(e.enrollment).await;
    let audited_before = h.audit_of(e.enrollment).await.len();
    h.fake.clear();

    let outcome = h
        .progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();

    assert_eq!(outcome, LessonCompletion::AlreadyCompleted);
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.lesson_progress(e.enrollment, e.lessons[0]).await, progress_before);
    assert_eq!(h.enrollment(e.enrollment).await, enrollment_before);
    assert_eq!(h.audit_of(e.enrollment).await.len(), audited_before);
}

#[tokio::test]
async fn completing_a_lesson_of_another_course_is_refused_and_records_nothing() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan"]).await;
    let (_, other_lessons) = h.published_course("Go Dasar", &["Goroutine"]).await;
    let before = h.enrollment(e.enrollment).await;
    h.fake.clear();

    let err = h
        .progress
        .complete_lesson(h.learner, e.enrollment, other_lessons[0])
        .await
        .unwrap_err();

    assert!(matches!(
        err,
        ProgressError::LessonNotInCourse { lesson, course } if lesson == other_lessons[0] && course == e.course
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.progress_rows().await, 0);
    assert_eq!(h.enrollment(e.enrollment).await, before);
}

#[tokio::test]
async fn completing_a_lesson_of_a_dropped_enrollment_is_refused() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan"]).await;
    h.enrollments.drop_out(h.learner, e.enrollment, None).await.unwrap();
    h.fake.clear();

    let err = h
        .progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap_err();

    assert!(matches!(
        err,
        ProgressError::EnrollmentNotActive {
            status: EnrollmentStatus::Dropped,
            ..
        }
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.progress_rows().await, 0);
}

#[tokio::test]
async fn completing_a_lesson_of_an_unknown_enrollment_is_not_found() {
    let h = Harness::new().await;
    let unknown = EnrollmentId::new();

    let err = h
        .progress
        .complete_lesson(h.learner, unknown, LessonId::new())
        .await
        .unwrap_err();

    assert!(matches!(err, ProgressError::EnrollmentNotFound(id) if id == unknown));
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn course_progress_counts_only_lessons_still_in_the_course() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Satu", "Dua", "Tiga"]).await;
    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();
    h.courses
        .remove_lesson(h.instructor, e.course, e.lessons[0])
        .await
        .unwrap();

    let outcome = h
        .progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[1])
        .await
        .unwrap();

    let half = Percentage::new(50.0).unwrap();
    assert_eq!(outcome, LessonCompletion::Completed { course_progress: half });
    assert_eq!(h.enrollment(e.enrollment).await.progress(), half);
}

#[tokio::test]
async fn a_lesson_completed_inside_another_unit_of_work_cascades_and_rolls_back_with_it() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Kuis"]).await;
    let before = h.enrollment(e.enrollment).await;
    h.fake.clear();

    let mut uow = h.bus.begin().with_actor(Some(h.learner));
    let outcome = progress::complete_lesson_in(&mut uow, e.enrollment, e.lessons[0])
        .await
        .unwrap();
    uow.dispatch().await.unwrap();
    let recorded: Vec<&str> = uow.recorded().map(|event| event.name()).collect();
    // The enrollment's move active → completed is recorded beside its cause, in the same unit.
    assert_eq!(
        recorded,
        ["lesson.completed", "enrollment.completed", "system.state_transitioned"]
    );
    uow.rollback().await.unwrap();

    assert!(matches!(outcome, LessonCompletion::Completed { .. }));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.progress_rows().await, 0);
    assert_eq!(h.enrollment(e.enrollment).await, before);
}
