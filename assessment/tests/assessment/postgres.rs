//! The same code on PostgreSQL (skipped when `ENTERAKSI_TEST_POSTGRES_URL` is unset).

use std::sync::Arc;

use assessment::{AssessmentError, AssessmentGraded, GradeOutcome, SubmitOutcome};
use shared_kernel::notifications::MemoryTransport;
use shared_kernel::testing::{NotificationFake, TestDb, drain};

use crate::support::{Harness, choice_quiz, choices, migrators, mixed_quiz, text};

#[tokio::test]
async fn authoring_attempts_and_both_gradings_run_on_postgres_with_the_same_code() {
    let test = "authoring_attempts_and_both_gradings_run_on_postgres_with_the_same_code";
    let Some(db) = TestDb::postgres(test, migrators()).await else {
        return;
    };
    let notifications = NotificationFake::new();
    let h = Harness::on(db, notifications.clone(), Arc::new(MemoryTransport::default())).await;
    let id = h
        .assessments
        .create(h.instructor, h.course, Some(h.quiz_lesson), mixed_quiz())
        .await
        .unwrap();
    let quiz = h.quiz(id).await;
    let first = h.start(&quiz).await;
    let in_progress = h
        .refused(async || h.assessments.start_attempt(h.learner, quiz.id).await)
        .await;
    assert!(matches!(in_progress, AssessmentError::AttemptInProgress { .. }));
    let frozen = h
        .refused(async || h.assessments.update(h.instructor, quiz.id, choice_quiz()).await)
        .await;
    assert!(matches!(frozen, AssessmentError::HasAttempts(_)));

    // Without its open answers the first attempt is graded at once and fails (4 of 10).
    let auto = h
        .assessments
        .submit(h.learner, first, vec![(quiz.q(0), choices(&[0]))])
        .await
        .unwrap();
    assert!(matches!(auto, SubmitOutcome::Graded(g) if g.score() == 4 && !g.passed()));

    let second = h.start(&quiz).await;
    h.assessments
        .submit(
            h.learner,
            second,
            vec![(quiz.q(1), text("Satu pemilik.")), (quiz.q(2), text("Pinjam."))],
        )
        .await
        .unwrap();
    let queue = assessment::awaiting_grading(&mut *h.conn().await, h.course)
        .await
        .unwrap();
    assert_eq!(queue.iter().map(|a| a.id()).collect::<Vec<_>>(), [second]);
    let refused = h
        .refused(async || {
            h.assessments
                .grade_answer(h.instructor, second, quiz.q(1), 4, None)
                .await
        })
        .await;
    assert!(matches!(
        refused,
        AssessmentError::PointsOutOfRange { points: 4, max: 3 }
    ));
    h.assessments
        .grade_answer(h.instructor, second, quiz.q(1), 3, Some("Bagus"))
        .await
        .unwrap();
    let last = h
        .assessments
        .grade_answer(h.instructor, second, quiz.q(2), 2, None)
        .await
        .unwrap();

    assert!(matches!(last, GradeOutcome::Graded(g) if g.score() == 5 && g.passed()));
    h.fake.assert_dispatched::<AssessmentGraded>(|e| {
        e.attempt_id == second && e.graded_by == Some(h.instructor) && e.lesson_id == Some(h.quiz_lesson)
    });
    let attempts = assessment::attempts_of(&mut *h.conn().await, quiz.id, h.learner)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1].answers()[1].response(), Some(&text("Satu pemilik.")));
    drain(&h.bus).await;
    notifications.assert_sent_times("assessment.graded", 2);
    h.cleanup().await;
}
