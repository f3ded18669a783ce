//! Manual grading of open answers by the course's instructor, and its refusals.

use assessment::{
    AnswerGraded, AssessmentError, AssessmentGraded, AssessmentSubmitted, AttemptStatus, GradeOutcome, SubmitOutcome,
};
use shared_kernel::QuestionId;

use crate::support::{choices, harness, mixed_quiz, text, waiting};

#[tokio::test]
async fn an_open_question_submission_waits_and_the_last_graded_answer_grades_the_attempt() {
    let (h, _) = harness().await;
    let quiz = h.create(mixed_quiz()).await;
    let attempt = h.start(&quiz).await;
    h.fake.clear();

    let submitted = h
        .assessments
        .submit(
            h.learner,
            attempt,
            vec![
                (quiz.q(0), choices(&[0])),
                (quiz.q(1), text("Setiap nilai punya satu pemilik.")),
                (quiz.q(2), text("Meminjam tanpa memiliki.")),
            ],
        )
        .await
        .unwrap();

    assert_eq!(submitted, SubmitOutcome::AwaitingGrading { ungraded: 2 });
    h.fake
        .assert_dispatched::<AssessmentSubmitted>(|e| e.requires_manual_grading && e.status == "submitted");
    h.fake.assert_not_dispatched::<AssessmentGraded>();
    let queue = assessment::awaiting_grading(&mut *h.conn().await, h.course)
        .await
        .unwrap();
    assert_eq!(queue.iter().map(|a| a.id()).collect::<Vec<_>>(), [attempt]);
    assert_eq!(queue[0].ungraded(), 2);

    let first = h
        .assessments
        .grade_answer(h.instructor, attempt, quiz.q(1), 2, Some("Kurang contoh."))
        .await
        .unwrap();
    assert_eq!(first, GradeOutcome::AwaitingGrading { ungraded: 1 });
    h.fake.assert_not_dispatched::<AssessmentGraded>();

    let last = h
        .assessments
        .grade_answer(h.instructor, attempt, quiz.q(2), 0, None)
        .await
        .unwrap();

    let GradeOutcome::Graded(grade) = last else {
        panic!("expected the attempt to be graded, got {last:?}");
    };
    assert_eq!((grade.score(), grade.max_score(), grade.passed()), (6, 10, true));
    h.fake.assert_dispatched_times::<AnswerGraded>(2);
    h.fake.assert_dispatched::<AnswerGraded>(|e| {
        e.question_id == quiz.q(1) && e.points == 2 && e.max_points == 3 && e.graded_by == h.instructor
    });
    h.fake.assert_dispatched::<AssessmentGraded>(|e| {
        e.attempt_id == attempt
            && e.score == 6
            && e.percentage == 60.0
            && e.passed
            && e.graded_by == Some(h.instructor)
            && e.enrollment_id == h.enrollment
    });
    let audit = h.audit_of(attempt).await;
    let names: Vec<&str> = audit.iter().map(|e| e.event_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "assessment.attempt.started",
            "assessment.submitted",
            "assessment.answer.graded",
            "assessment.answer.graded",
            "assessment.graded"
        ]
    );
    assert_eq!(audit[4].actor_id, Some(h.instructor));
    let stored = h.attempt(attempt).await;
    assert_eq!(stored.status(), AttemptStatus::Graded);
    assert_eq!(stored.graded_by(), Some(h.instructor));
    assert_eq!(stored.answers()[1].feedback(), Some("Kurang contoh."));
    assert_eq!(stored.answers()[1].points(), Some(2));
    assert!(
        assessment::awaiting_grading(&mut *h.conn().await, h.course)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn grading_beyond_the_maximum_or_below_zero_is_refused_and_records_nothing() {
    let (h, _) = harness().await;
    let (quiz, attempt) = waiting(&h).await;

    let above = h
        .refused(async || {
            h.assessments
                .grade_answer(h.instructor, attempt, quiz.q(1), 4, None)
                .await
        })
        .await;
    let negative = h
        .refused(async || {
            h.assessments
                .grade_answer(h.instructor, attempt, quiz.q(1), -1, None)
                .await
        })
        .await;

    assert!(matches!(above, AssessmentError::PointsOutOfRange { points: 4, max: 3 }));
    assert!(matches!(
        negative,
        AssessmentError::PointsOutOfRange { points: -1, max: 3 }
    ));
    assert_eq!(h.attempt(attempt).await.ungraded(), 1);
}

#[tokio::test]
async fn grading_by_a_learner_is_refused_as_not_the_instructor() {
    let (h, _) = harness().await;
    let (quiz, attempt) = waiting(&h).await;

    let err = h
        .refused(async || h.assessments.grade_answer(h.learner, attempt, quiz.q(1), 3, None).await)
        .await;

    assert!(matches!(
        err,
        AssessmentError::NotInstructor { user, course } if user == h.learner && course == h.course
    ));
}

#[tokio::test]
async fn grading_an_answer_twice_an_unanswered_or_a_multiple_choice_one_is_refused() {
    let (h, _) = harness().await;
    let (quiz, attempt) = waiting(&h).await;
    let unknown = QuestionId::new();

    let multiple_choice = h
        .refused(async || {
            h.assessments
                .grade_answer(h.instructor, attempt, quiz.q(0), 4, None)
                .await
        })
        .await;
    let unanswered = h
        .refused(async || {
            h.assessments
                .grade_answer(h.instructor, attempt, quiz.q(2), 3, None)
                .await
        })
        .await;
    let not_in_quiz = h
        .refused(async || {
            h.assessments
                .grade_answer(h.instructor, attempt, unknown, 1, None)
                .await
        })
        .await;
    h.assessments
        .grade_answer(h.instructor, attempt, quiz.q(1), 3, None)
        .await
        .unwrap();
    let twice = h
        .refused(async || {
            h.assessments
                .grade_answer(h.instructor, attempt, quiz.q(1), 1, None)
                .await
        })
        .await;

    assert!(matches!(multiple_choice, AssessmentError::NotAnOpenQuestion(q) if q == quiz.q(0)));
    assert!(matches!(
        unanswered,
        AssessmentError::AnswerAlreadyGraded { attempt: a, question } if a == attempt && question == quiz.q(2)
    ));
    assert!(matches!(not_in_quiz, AssessmentError::UnknownQuestion(q) if q == unknown));
    assert!(matches!(twice, AssessmentError::AlreadyGraded(a) if a == attempt));
}

#[tokio::test]
async fn grading_an_attempt_still_in_progress_is_refused() {
    let (h, _) = harness().await;
    let quiz = h.create(mixed_quiz()).await;
    let attempt = h.start(&quiz).await;

    let err = h
        .refused(async || {
            h.assessments
                .grade_answer(h.instructor, attempt, quiz.q(1), 1, None)
                .await
        })
        .await;

    assert!(matches!(err, AssessmentError::NotSubmitted(a) if a == attempt));
}
