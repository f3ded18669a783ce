//! Starting attempts: enrolled learners only, one in progress at a time, within the maximum.

use assessment::{AssessmentError, AttemptStarted, AttemptStatus};
use shared_kernel::{AssessmentId, AttemptId};

use crate::support::{choice_quiz, harness};

#[tokio::test]
async fn starting_an_attempt_records_attempt_started_with_the_catalog_metadata() {
    let (h, _) = harness().await;
    let quiz = h.create(choice_quiz()).await;
    let now = h.bus.clock().now();

    let id = h.start(&quiz).await;

    let attempt = h.attempt(id).await;
    assert_eq!(attempt.status(), AttemptStatus::InProgress);
    assert_eq!(attempt.attempt_number(), 1);
    assert_eq!(attempt.enrollment_id(), h.enrollment);
    assert_eq!(attempt.user_id(), h.learner);
    h.fake.assert_dispatched_times::<AttemptStarted>(1);
    let audit = h.audit_of(id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].event_name, "assessment.attempt.started");
    assert_eq!(audit[0].actor_id, Some(h.learner));
    assert_eq!(
        audit[0].metadata,
        serde_json::json!({
            "attempt_id": id,
            "assessment_id": quiz.id,
            "assessment_title": "Kuis Tipe Data",
            "user_id": h.learner,
            "attempt_number": 1,
            "started_at": shared_kernel::to_db_text(now),
        })
    );
}

#[tokio::test]
async fn an_attempt_without_an_active_enrollment_is_refused_and_records_nothing() {
    let (h, _) = harness().await;
    let quiz = h.create(choice_quiz()).await;

    let outsider = h
        .refused(async || h.assessments.start_attempt(h.outsider, quiz.id).await)
        .await;
    h.enrollments.drop_out(h.learner, h.enrollment, None).await.unwrap();
    let dropped = h
        .refused(async || h.assessments.start_attempt(h.learner, quiz.id).await)
        .await;

    assert!(matches!(
        outsider,
        AssessmentError::NotEnrolled { user, course } if user == h.outsider && course == h.course
    ));
    assert!(matches!(dropped, AssessmentError::NotEnrolled { user, .. } if user == h.learner));
}

#[tokio::test]
async fn an_attempt_at_an_unknown_assessment_is_refused() {
    let (h, _) = harness().await;
    let unknown = AssessmentId::new();

    let err = h
        .refused(async || h.assessments.start_attempt(h.learner, unknown).await)
        .await;

    assert!(matches!(err, AssessmentError::NotFound(id) if id == unknown));
    let mut conn = h.conn().await;
    assert!(assessment::find(&mut conn, unknown).await.unwrap().is_none());
    assert!(
        assessment::find_attempt(&mut conn, AttemptId::new())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_second_attempt_while_one_is_in_progress_is_refused() {
    let (h, _) = harness().await;
    let quiz = h.create(choice_quiz()).await;
    h.start(&quiz).await;

    let err = h
        .refused(async || h.assessments.start_attempt(h.learner, quiz.id).await)
        .await;

    assert!(matches!(
        err,
        AssessmentError::AttemptInProgress { assessment, user } if assessment == quiz.id && user == h.learner
    ));
}

#[tokio::test]
async fn attempts_beyond_the_maximum_are_refused() {
    let (h, _) = harness().await;
    let quiz = h.create(choice_quiz()).await;
    for _ in 0..2 {
        let attempt = h.start(&quiz).await;
        h.assessments.submit(h.learner, attempt, vec![]).await.unwrap();
    }

    let err = h
        .refused(async || h.assessments.start_attempt(h.learner, quiz.id).await)
        .await;

    assert!(matches!(err, AssessmentError::NoAttemptsLeft { max: 2 }));
    let attempts = assessment::attempts_of(&mut *h.conn().await, quiz.id, h.learner)
        .await
        .unwrap();
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt_number()).collect();
    assert_eq!(numbers, [1, 2]);
}
