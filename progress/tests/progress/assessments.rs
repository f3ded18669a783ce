//! Passing an assessment lesson: the lesson (and the course) completed in the grading's
//! transaction, only for a pass on an active enrollment, and only once.

use assessment::AssessmentGraded;
use enrollment::{EnrollmentCompleted, EnrollmentStatus};
use progress::LessonCompleted;
use shared_kernel::{AssessmentId, AttemptId, EnrollmentId, LessonId};

use crate::support::{Enrolled, Harness};

/// What assessment records when an attempt is graded: here recorded by hand, so that this
/// context's listener is tested without the assessment commands.
fn graded(h: &Harness, e: &Enrolled, lesson: Option<LessonId>, score: u32, passed: bool) -> AssessmentGraded {
    AssessmentGraded {
        attempt_id: AttemptId::new(),
        assessment_id: AssessmentId::new(),
        assessment_title: "Kuis Akhir".to_owned(),
        user_id: h.learner,
        course_id: e.course,
        lesson_id: lesson,
        enrollment_id: e.enrollment,
        score,
        max_score: 10,
        percentage: f64::from(score) * 10.0,
        passed,
        graded_by: Some(h.instructor),
    }
}

async fn grade(h: &Harness, event: AssessmentGraded) -> Vec<&'static str> {
    let mut uow = h.bus.begin().with_actor(Some(h.instructor));
    uow.record(event);
    uow.dispatch().await.unwrap();
    let recorded = uow.recorded().map(|event| event.name()).collect();
    uow.commit().await.unwrap();
    recorded
}

#[tokio::test]
async fn a_passed_assessment_lesson_completes_the_lesson_and_the_course_in_the_grading_transaction() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Kuis"]).await;
    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();
    h.fake.clear();

    let recorded = grade(&h, graded(&h, &e, Some(e.lessons[1]), 8, true)).await;

    // Each lifecycle move (the attempt graded, the enrollment completed) follows its cause.
    assert_eq!(
        recorded,
        [
            "assessment.graded",
            "system.state_transitioned",
            "lesson.completed",
            "enrollment.completed",
            "system.state_transitioned"
        ]
    );
    assert!(
        h.lesson_progress(e.enrollment, e.lessons[1])
            .await
            .unwrap()
            .is_completed()
    );
    assert_eq!(h.enrollment(e.enrollment).await.status(), EnrollmentStatus::Completed);
    h.fake.assert_dispatched_times::<EnrollmentCompleted>(1);
    let graded_id = h.fake.dispatched::<AssessmentGraded>()[0].meta().event_id();
    let completed = h.fake.dispatched::<LessonCompleted>();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].event().lesson_id, e.lessons[1]);
    assert_eq!(
        completed[0].meta().causation_id(),
        Some(graded_id),
        "caused by the grading"
    );
}

#[tokio::test]
async fn a_failed_assessment_or_one_that_is_no_lesson_completes_nothing() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Kuis"]).await;

    assert_eq!(
        grade(&h, graded(&h, &e, Some(e.lessons[1]), 4, false)).await,
        ["assessment.graded", "system.state_transitioned"]
    );
    assert_eq!(
        grade(&h, graded(&h, &e, None, 9, true)).await,
        ["assessment.graded", "system.state_transitioned"]
    );

    h.fake.assert_not_dispatched::<LessonCompleted>();
    assert_eq!(h.progress_rows().await, 0);
    assert_eq!(h.enrollment(e.enrollment).await.status(), EnrollmentStatus::Active);
}

#[tokio::test]
async fn passing_again_after_the_lesson_was_completed_records_no_second_completion() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Kuis", "Penutup"]).await;

    grade(&h, graded(&h, &e, Some(e.lessons[0]), 10, true)).await;
    let recorded = grade(&h, graded(&h, &e, Some(e.lessons[0]), 9, true)).await;

    assert_eq!(recorded, ["assessment.graded", "system.state_transitioned"]);
    h.fake.assert_dispatched_times::<LessonCompleted>(1);
}

#[tokio::test]
async fn a_pass_on_a_dropped_enrollment_keeps_the_grade_and_leaves_the_lesson_open() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Kuis"]).await;
    h.enrollments.drop_out(h.learner, e.enrollment, None).await.unwrap();
    h.fake.clear();

    let recorded = grade(&h, graded(&h, &e, Some(e.lessons[0]), 10, true)).await;

    assert_eq!(
        recorded,
        ["assessment.graded", "system.state_transitioned"],
        "the grading commits without the lesson"
    );
    h.fake.assert_dispatched_times::<AssessmentGraded>(1);
    assert_eq!(h.progress_rows().await, 0);
    assert_eq!(h.enrollment(e.enrollment).await.status(), EnrollmentStatus::Dropped);
}

#[tokio::test]
async fn an_unknown_enrollment_fails_the_listener_and_rolls_the_grading_back() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Kuis"]).await;
    let mut event = graded(&h, &e, Some(e.lessons[0]), 10, true);
    event.enrollment_id = EnrollmentId::new();
    h.fake.clear();

    let mut uow = h.bus.begin().with_actor(Some(h.instructor));
    uow.record(event);
    assert!(
        uow.dispatch().await.is_err(),
        "a grade for no enrollment is a broken invariant"
    );
    drop(uow);

    h.fake.assert_nothing_dispatched();
    assert_eq!(h.progress_rows().await, 0);
}
