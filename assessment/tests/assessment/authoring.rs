//! Authoring: creating and updating assessments, by the course's instructor only, with lesson
//! links and typed refusals.

use std::collections::BTreeSet;
use std::sync::Arc;

use assessment::{AssessmentError, NewAssessment, NewQuestion, QuestionError, QuestionKind, SettingsError};
use course::{CourseError, CourseService};
use shared_kernel::CourseId;

use crate::support::{CountEnrollments, choice_quiz, harness, mixed_quiz};

#[tokio::test]
async fn creating_an_assessment_stores_its_settings_and_questions_in_order_and_records_no_event() {
    let (h, _) = harness().await;
    let draft = NewAssessment {
        time_limit_minutes: Some(30),
        ..mixed_quiz()
    };

    let id = h.assessments.create(h.instructor, h.course, None, draft).await.unwrap();

    let stored = h.find(id).await;
    assert_eq!(stored.course_id(), h.course);
    assert_eq!(stored.lesson_id(), None);
    assert_eq!(stored.title().to_string(), "Ujian Ownership");
    assert_eq!(stored.passing_score().percent(), 50);
    assert_eq!(stored.max_attempts().get(), 3);
    assert_eq!(stored.time_limit().map(|t| t.as_minutes()), Some(30));
    assert_eq!(stored.max_score(), 10);
    let shape: Vec<(&str, u32, bool)> = stored
        .questions()
        .iter()
        .map(|q| (q.prompt(), q.points(), q.is_open()))
        .collect();
    assert_eq!(
        shape,
        [
            ("Pemilik nilai ada berapa?", 4, false),
            ("Jelaskan ownership.", 3, true),
            ("Jelaskan borrowing.", 3, true)
        ]
    );
    assert!(matches!(
        stored.questions()[0].kind(),
        QuestionKind::MultipleChoice { options, correct } if options == &["Satu", "Dua"] && correct == &BTreeSet::from([0])
    ));
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn creating_with_a_lesson_links_the_assessment_to_that_assessment_lesson() {
    let (h, _) = harness().await;

    let id = h
        .assessments
        .create(h.instructor, h.course, Some(h.quiz_lesson), choice_quiz())
        .await
        .unwrap();

    assert_eq!(h.find(id).await.lesson_id(), Some(h.quiz_lesson));
    let course = course::find(&mut *h.conn().await, h.course).await.unwrap().unwrap();
    assert_eq!(course.lesson(h.quiz_lesson).unwrap().kind().assessment_id(), Some(id));
}

#[tokio::test]
async fn linking_to_a_content_lesson_is_refused_and_the_assessment_is_not_stored() {
    let (h, _) = harness().await;

    let err = h
        .refused(async || {
            h.assessments
                .create(h.instructor, h.course, Some(h.content_lesson), choice_quiz())
                .await
        })
        .await;

    assert!(matches!(
        err,
        AssessmentError::Course(CourseError::NotAnAssessmentLesson { .. })
    ));
}

#[tokio::test]
async fn a_non_instructor_creating_an_assessment_is_refused_and_stores_nothing() {
    let (h, _) = harness().await;

    let err = h
        .refused(async || h.assessments.create(h.learner, h.course, None, choice_quiz()).await)
        .await;

    assert!(matches!(
        err,
        AssessmentError::NotInstructor { user, course } if user == h.learner && course == h.course
    ));
}

#[tokio::test]
async fn an_archived_course_takes_no_new_assessment_and_its_assessments_stay_as_they_are() {
    let (h, _) = harness().await;
    let quiz = h.create(choice_quiz()).await;
    CourseService::new(h.bus.clone(), Arc::new(CountEnrollments))
        .archive(h.instructor, h.course)
        .await
        .unwrap();

    let created = h
        .refused(async || h.assessments.create(h.instructor, h.course, None, choice_quiz()).await)
        .await;
    let updated = h
        .refused(async || h.assessments.update(h.instructor, quiz.id, mixed_quiz()).await)
        .await;

    for err in [created, updated] {
        assert!(matches!(err, AssessmentError::Course(CourseError::Archived(c)) if c == h.course));
    }
}

#[tokio::test]
async fn creating_for_an_unknown_course_is_refused() {
    let (h, _) = harness().await;
    let unknown = CourseId::new();

    let err = h
        .refused(async || h.assessments.create(h.instructor, unknown, None, choice_quiz()).await)
        .await;

    assert!(matches!(err, AssessmentError::CourseNotFound(c) if c == unknown));
}

#[tokio::test]
async fn an_invalid_draft_is_refused_with_a_typed_error_and_stores_nothing() {
    let (h, _) = harness().await;
    let drafts = [
        NewAssessment {
            questions: vec![],
            ..choice_quiz()
        },
        NewAssessment {
            passing_score: 101,
            ..choice_quiz()
        },
        NewAssessment {
            max_attempts: 0,
            ..choice_quiz()
        },
        NewAssessment {
            time_limit_minutes: Some(0),
            ..choice_quiz()
        },
        NewAssessment {
            title: "   ".into(),
            ..choice_quiz()
        },
        NewAssessment {
            questions: vec![
                NewQuestion::open("Jelaskan.", 2),
                NewQuestion::multiple_choice("Pilih.", &["A", "B"], &[2], 1),
            ],
            ..choice_quiz()
        },
        NewAssessment {
            questions: vec![NewQuestion::open("Jelaskan.", -1)],
            ..choice_quiz()
        },
    ];
    let mut errors = Vec::new();
    for draft in drafts {
        errors.push(
            h.refused(async || h.assessments.create(h.instructor, h.course, None, draft).await)
                .await,
        );
    }

    assert!(matches!(errors[0], AssessmentError::NoQuestions));
    assert!(matches!(
        errors[1],
        AssessmentError::InvalidSettings(SettingsError::PassingScore(101))
    ));
    assert!(matches!(
        errors[2],
        AssessmentError::InvalidSettings(SettingsError::MaxAttempts(0))
    ));
    assert!(matches!(
        errors[3],
        AssessmentError::InvalidSettings(SettingsError::TimeLimit(0))
    ));
    assert!(matches!(errors[4], AssessmentError::InvalidTitle(_)));
    assert!(matches!(
        errors[5],
        AssessmentError::InvalidQuestion {
            index: 1,
            source: QuestionError::NoSuchOption(2)
        }
    ));
    assert!(matches!(
        errors[6],
        AssessmentError::InvalidQuestion {
            index: 0,
            source: QuestionError::Points(-1)
        }
    ));
}

#[tokio::test]
async fn updating_replaces_the_settings_and_questions_until_someone_attempts() {
    let (h, _) = harness().await;
    let quiz = h.create(choice_quiz()).await;

    h.assessments.update(h.instructor, quiz.id, mixed_quiz()).await.unwrap();

    let stored = h.find(quiz.id).await;
    assert_eq!(stored.title().to_string(), "Ujian Ownership");
    assert_eq!((stored.passing_score().percent(), stored.max_score()), (50, 10));
    assert_eq!(stored.questions().len(), 3);
    assert!(stored.questions().iter().all(|q| !quiz.questions.contains(&q.id())));

    let by_learner = h
        .refused(async || h.assessments.update(h.learner, quiz.id, choice_quiz()).await)
        .await;
    assert!(matches!(by_learner, AssessmentError::NotInstructor { .. }));

    h.start(&quiz).await;
    let frozen = h
        .refused(async || h.assessments.update(h.instructor, quiz.id, choice_quiz()).await)
        .await;
    assert!(matches!(frozen, AssessmentError::HasAttempts(id) if id == quiz.id));
    assert_eq!(h.find(quiz.id).await.questions().len(), 3);
}
