//! Submitting an attempt: automatic grading, refusals and the time limit.

use assessment::{AssessmentError, AssessmentGraded, AssessmentSubmitted, AttemptStatus, NewAssessment, SubmitOutcome};
use chrono::Duration;
use shared_kernel::{AttemptId, DomainEvent, QuestionId};

use crate::support::{choice_quiz, choices, harness, mixed_quiz, text};

#[tokio::test]
async fn an_auto_graded_submission_records_submitted_then_graded_with_the_score() {
    let (h, _) = harness().await;
    let id = h
        .assessments
        .create(h.instructor, h.course, Some(h.quiz_lesson), choice_quiz())
        .await
        .unwrap();
    let quiz = h.quiz(id).await;
    let attempt = h.start(&quiz).await;
    h.fake.clear();
    let mut learners_channel = h.hub.subscribe(&format!("private-user.{}", h.learner));

    // The first answer is wrong (3 points lost), the second right: 7 of 10 passes 70 % exactly.
    let outcome = h
        .assessments
        .submit(
            h.learner,
            attempt,
            vec![(quiz.q(0), choices(&[1])), (quiz.q(1), choices(&[2, 0]))],
        )
        .await
        .unwrap();

    let SubmitOutcome::Graded(grade) = outcome else {
        panic!("expected an auto-graded attempt, got {outcome:?}");
    };
    assert_eq!(
        (grade.score(), grade.max_score(), grade.percentage(), grade.passed()),
        (7, 10, 70.0, true)
    );
    let names: Vec<&str> = h.fake.all().iter().map(|e| e.name()).collect();
    // Each lifecycle move of the attempt (in progress → submitted → graded) follows its cause.
    assert_eq!(
        names,
        [
            "assessment.submitted",
            "system.state_transitioned",
            "assessment.graded",
            "system.state_transitioned"
        ]
    );
    h.fake.assert_dispatched::<AssessmentSubmitted>(|e| {
        e.attempt_id == attempt && !e.requires_manual_grading && e.status == "graded" && e.user_id == h.learner
    });
    let graded = h.fake.dispatched::<AssessmentGraded>().pop().unwrap();
    assert_eq!(
        graded.event(),
        &AssessmentGraded {
            attempt_id: attempt,
            assessment_id: quiz.id,
            assessment_title: "Kuis Tipe Data".into(),
            user_id: h.learner,
            course_id: h.course,
            lesson_id: Some(h.quiz_lesson),
            enrollment_id: h.enrollment,
            score: 7,
            max_score: 10,
            percentage: 70.0,
            passed: true,
            graded_by: None,
        }
    );
    let stored = h.attempt(attempt).await;
    assert_eq!(stored.status(), AttemptStatus::Graded);
    assert_eq!((stored.score(), stored.passed()), (Some(7), Some(true)));
    assert_eq!(stored.answers().len(), 2);
    assert_eq!(stored.answers()[0].response(), Some(&choices(&[1])));
    let audit = h.audit_of(attempt).await;
    let names: Vec<&str> = audit.iter().map(|e| e.event_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "assessment.attempt.started",
            "assessment.submitted",
            "assessment.graded"
        ]
    );
    assert_eq!(audit[2].metadata["percentage"], 70.0);
    let message = learners_channel.try_recv().expect("a broadcast to the learner");
    assert_eq!(message.event, AssessmentGraded::NAME);
}

#[tokio::test]
async fn a_partly_correct_choice_earns_nothing_and_unanswered_questions_score_zero() {
    let (h, _) = harness().await;
    let quiz = h.create(choice_quiz()).await;
    let attempt = h.start(&quiz).await;

    // Only one of the two correct options of the 7-point question; the other question skipped.
    let outcome = h
        .assessments
        .submit(h.learner, attempt, vec![(quiz.q(1), choices(&[0]))])
        .await
        .unwrap();

    let SubmitOutcome::Graded(grade) = outcome else {
        panic!("expected an auto-graded attempt, got {outcome:?}");
    };
    assert_eq!((grade.score(), grade.percentage(), grade.passed()), (0, 0.0, false));
    h.fake
        .assert_dispatched::<AssessmentGraded>(|e| e.attempt_id == attempt && !e.passed && e.lesson_id.is_none());
    assert_eq!(h.attempt(attempt).await.answers()[0].response(), None);
}

#[tokio::test]
async fn submitting_twice_is_refused_and_records_nothing() {
    let (h, _) = harness().await;
    let quiz = h.create(choice_quiz()).await;
    let attempt = h.start(&quiz).await;
    h.assessments.submit(h.learner, attempt, vec![]).await.unwrap();

    let err = h
        .refused(async || {
            h.assessments
                .submit(h.learner, attempt, vec![(quiz.q(0), choices(&[0]))])
                .await
        })
        .await;

    assert!(matches!(err, AssessmentError::AlreadySubmitted(id) if id == attempt));
}

#[tokio::test]
async fn submitting_someone_elses_or_an_unknown_attempt_is_refused() {
    let (h, _) = harness().await;
    let quiz = h.create(choice_quiz()).await;
    let attempt = h.start(&quiz).await;
    let unknown = AttemptId::new();

    let other = h
        .refused(async || h.assessments.submit(h.outsider, attempt, vec![]).await)
        .await;
    let missing = h
        .refused(async || h.assessments.submit(h.learner, unknown, vec![]).await)
        .await;

    assert!(matches!(other, AssessmentError::NotYourAttempt(id) if id == attempt));
    assert!(matches!(missing, AssessmentError::AttemptNotFound(id) if id == unknown));
    assert_eq!(h.attempt(attempt).await.status(), AttemptStatus::InProgress);
}

#[tokio::test]
async fn unknown_duplicate_or_ill_fitting_answers_are_refused_and_change_nothing() {
    let (h, _) = harness().await;
    let quiz = h.create(mixed_quiz()).await;
    let attempt = h.start(&quiz).await;
    let unknown = QuestionId::new();
    let foreign = h.create(choice_quiz()).await.q(0);

    let mut errors = Vec::new();
    for answers in [
        vec![(unknown, choices(&[0]))],
        vec![(foreign, choices(&[0]))],
        vec![(quiz.q(0), choices(&[0])), (quiz.q(0), choices(&[1]))],
        vec![(quiz.q(0), text("Satu"))],
        vec![(quiz.q(1), choices(&[0]))],
        vec![(quiz.q(0), choices(&[5]))],
    ] {
        errors.push(
            h.refused(async || h.assessments.submit(h.learner, attempt, answers).await)
                .await,
        );
    }

    assert!(matches!(errors[0], AssessmentError::UnknownQuestion(q) if q == unknown));
    assert!(matches!(errors[1], AssessmentError::UnknownQuestion(q) if q == foreign));
    assert!(matches!(errors[2], AssessmentError::DuplicateAnswer(q) if q == quiz.q(0)));
    assert!(matches!(errors[3], AssessmentError::WrongResponseKind(q) if q == quiz.q(0)));
    assert!(matches!(errors[4], AssessmentError::WrongResponseKind(q) if q == quiz.q(1)));
    assert!(matches!(
        errors[5],
        AssessmentError::NoSuchOption { question, option: 5 } if question == quiz.q(0)
    ));
    assert_eq!(h.attempt(attempt).await.status(), AttemptStatus::InProgress);
}

#[tokio::test]
async fn a_submission_after_the_time_limit_counts_as_submitted_at_the_limit() {
    let (h, _) = harness().await;
    let quiz = h
        .create(NewAssessment {
            time_limit_minutes: Some(30),
            ..choice_quiz()
        })
        .await;
    let late = h.start(&quiz).await;
    let started_at = h.attempt(late).await.started_at();

    h.clock.advance(Duration::minutes(45));
    h.assessments
        .submit(h.learner, late, vec![(quiz.q(0), choices(&[0]))])
        .await
        .unwrap();
    let in_time = h.start(&quiz).await;
    h.clock.advance(Duration::minutes(10));
    h.assessments.submit(h.learner, in_time, vec![]).await.unwrap();

    let late = h.attempt(late).await;
    assert_eq!(late.submitted_at(), Some(started_at + Duration::minutes(30)));
    assert_eq!(late.score(), Some(3), "a late submission is still accepted and graded");
    let in_time = h.attempt(in_time).await;
    assert_eq!(
        in_time.submitted_at(),
        Some(started_at + Duration::minutes(55)),
        "started 45 minutes in, submitted 10 minutes later"
    );
}
