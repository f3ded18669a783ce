//! The assessment context against a real (temporary) SQLite database, through its public API:
//! authoring (instructor only, lesson links), attempts for enrolled learners, automatic and
//! manual grading with their events, audit rows and broadcast, the time limit, the grading
//! queue, the learner's notification drained by a real worker, and every refusal leaving no row
//! and no event.

use std::collections::BTreeSet;
use std::sync::Arc;

use assessment::{
    AnswerGraded, AssessmentError, AssessmentGraded, AssessmentService, AssessmentSubmitted, AttemptStarted,
    AttemptStatus, GradeOutcome, NewAssessment, NewQuestion, NotifyUserOfGradedAssessment, QuestionError, QuestionKind,
    Response, SettingsError, SubmitOutcome,
};
use async_trait::async_trait;
use chrono::{Duration, Utc};
use course::{
    CourseArchived, CourseError, CoursePublished, CourseService, CourseUnpublished, EnrollmentCounts,
    EnrollmentCountsError, EnrollmentTally, LessonKind,
};
use enrollment::{EnrollmentCompleted, EnrollmentService, UserDropped, UserEnrolled, UserReenrolled};
use shared_kernel::notifications::{
    AppUrl, MailTransport, MemoryTransport, NotificationSender, Notifier, SendMail, notification_queue_options,
    notifications_of,
};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::{EventFake, NotificationFake, TestDb, drain};
use shared_kernel::users::create_user;
use shared_kernel::{
    AssessmentId, AttemptId, AuditLog, AuditQuery, CourseId, DomainEvent, EnrollmentId, EventBus, InProcessHub,
    JobContext, LessonId, LogDomainEvent, ManualClock, QuestionId, QueuedListener, Registry, UserId,
};

/// What `app`'s adapter of course's port does: count through enrollment's read.
struct CountEnrollments;

#[async_trait]
impl EnrollmentCounts for CountEnrollments {
    async fn tally(
        &self,
        conn: &mut AnyConnection,
        course: CourseId,
    ) -> Result<EnrollmentTally, EnrollmentCountsError> {
        enrollment::tally(conn, course)
            .await
            .map_err(EnrollmentCountsError::new)
    }
}

fn migrators() -> Vec<sqlx::migrate::Migrator> {
    vec![course::migrator(), enrollment::migrator(), assessment::migrator()]
}

fn registry(notifier: Arc<dyn NotificationSender>, mail: Arc<dyn MailTransport>) -> Registry {
    Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .job(SendMail::new(mail), notification_queue_options())
        .event::<CoursePublished>()
        .event::<CourseUnpublished>()
        .event::<CourseArchived>()
        .event::<UserEnrolled>()
        .event::<UserReenrolled>()
        .event::<UserDropped>()
        .event::<EnrollmentCompleted>()
        .event::<AttemptStarted>()
        .event::<AssessmentSubmitted>()
        .event::<AnswerGraded>()
        .listen_queued::<AssessmentGraded, _>(
            NotifyUserOfGradedAssessment::new(notifier),
            NotifyUserOfGradedAssessment::queue_options(),
        )
        .build()
        .expect("the assessment registry is valid")
}

/// A published course of an instructor, with a content lesson and an assessment lesson, in
/// which the learner is enrolled (the outsider is not).
struct Harness {
    db: TestDb,
    bus: EventBus,
    fake: Arc<EventFake>,
    hub: Arc<InProcessHub>,
    clock: Arc<ManualClock>,
    assessments: AssessmentService,
    enrollments: EnrollmentService,
    instructor: UserId,
    learner: UserId,
    outsider: UserId,
    course: CourseId,
    content_lesson: LessonId,
    quiz_lesson: LessonId,
    enrollment: EnrollmentId,
}

impl Harness {
    async fn new(notifier: Arc<dyn NotificationSender>, mail: Arc<dyn MailTransport>) -> Self {
        Self::on(TestDb::new(migrators()).await, notifier, mail).await
    }

    async fn on(db: TestDb, notifier: Arc<dyn NotificationSender>, mail: Arc<dyn MailTransport>) -> Self {
        let fake = EventFake::new();
        let hub = Arc::new(InProcessHub::default());
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let bus = EventBus::builder(db.db().clone(), Arc::new(registry(notifier, mail)))
            .observer(fake.clone())
            .broadcaster(hub.clone())
            .clock(clock.clone())
            .build();
        let mut conn = db.db().writer().acquire().await.unwrap();
        let mut user = async |name: &str, email: &str| create_user(&mut conn, name, email, "id").await.unwrap().id();
        let instructor = user("Budi Santoso", "budi@example.id").await;
        let learner = user("Siti Rahma", "siti@example.id").await;
        let outsider = user("Andi Wijaya", "andi@example.id").await;
        drop(conn);
        let courses = CourseService::new(bus.clone(), Arc::new(CountEnrollments));
        let course = courses
            .create(instructor, "Rust Dasar", "Belajar Rust dari nol")
            .await
            .unwrap();
        let content_lesson = courses
            .add_lesson(instructor, course, "Pengenalan", LessonKind::Content)
            .await
            .unwrap();
        let quiz_lesson = courses
            .add_lesson(instructor, course, "Kuis Akhir", LessonKind::assessment())
            .await
            .unwrap();
        courses.publish(instructor, course).await.unwrap();
        let enrollments = EnrollmentService::new(bus.clone());
        let enrollment = enrollments.enroll(learner, learner, course).await.unwrap();
        fake.clear();
        Self {
            assessments: AssessmentService::new(bus.clone()),
            enrollments,
            db,
            bus,
            fake,
            hub,
            clock,
            instructor,
            learner,
            outsider,
            course,
            content_lesson,
            quiz_lesson,
            enrollment,
        }
    }

    async fn conn(&self) -> shared_kernel::sqlx::pool::PoolConnection<shared_kernel::sqlx::Any> {
        self.bus.db().writer().acquire().await.unwrap()
    }

    async fn cleanup(self) {
        self.db.cleanup().await;
    }

    /// Creates `draft` as the instructor, without a lesson, and forgets the (absent) events.
    async fn create(&self, draft: NewAssessment) -> Quiz {
        let id = self
            .assessments
            .create(self.instructor, self.course, None, draft)
            .await
            .unwrap();
        self.quiz(id).await
    }

    async fn quiz(&self, id: AssessmentId) -> Quiz {
        let stored = self.find(id).await;
        Quiz {
            id,
            questions: stored.questions().iter().map(|q| q.id()).collect(),
        }
    }

    async fn find(&self, id: AssessmentId) -> assessment::Assessment {
        assessment::find(&mut *self.conn().await, id).await.unwrap().unwrap()
    }

    async fn attempt(&self, id: AttemptId) -> assessment::Attempt {
        assessment::find_attempt(&mut *self.conn().await, id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn start(&self, quiz: &Quiz) -> AttemptId {
        self.assessments.start_attempt(self.learner, quiz.id).await.unwrap()
    }

    /// Rows of every table a command could write, audit log and jobs included.
    async fn rows(&self) -> [i64; 6] {
        let mut counts = [0; 6];
        let tables = [
            "SELECT COUNT(*) FROM assessments",
            "SELECT COUNT(*) FROM assessment_questions",
            "SELECT COUNT(*) FROM assessment_attempts",
            "SELECT COUNT(*) FROM assessment_answers",
            "SELECT COUNT(*) FROM domain_event_log",
            "SELECT COUNT(*) FROM jobs",
        ];
        for (count, sql) in counts.iter_mut().zip(tables) {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *self.conn().await).await.unwrap();
            *count = n;
        }
        counts
    }

    /// Runs `refused` (which must fail) and asserts it left no row and no event behind.
    async fn refused<T: std::fmt::Debug>(
        &self,
        refused: impl AsyncFnOnce() -> Result<T, AssessmentError>,
    ) -> AssessmentError {
        self.fake.clear();
        let before = self.rows().await;
        let err = refused().await.expect_err("the command should be refused");
        assert_eq!(self.rows().await, before, "a refused command leaves no row ({err})");
        self.fake.assert_nothing_dispatched();
        err
    }

    async fn audit_of(&self, attempt: AttemptId) -> Vec<shared_kernel::AuditEntry> {
        AuditLog::new(self.bus.db().clone())
            .query(&AuditQuery::new().aggregate("assessment_attempt", Some(attempt.to_string())))
            .await
            .unwrap()
    }
}

/// An assessment's id and its questions' ids, in order.
struct Quiz {
    id: AssessmentId,
    questions: Vec<QuestionId>,
}

impl Quiz {
    fn q(&self, n: usize) -> QuestionId {
        self.questions[n]
    }
}

async fn harness() -> (Harness, Arc<NotificationFake>) {
    let notifications = NotificationFake::new();
    (
        Harness::new(notifications.clone(), Arc::new(MemoryTransport::default())).await,
        notifications,
    )
}

fn choices(options: &[usize]) -> Response {
    Response::Choices(options.iter().copied().collect::<BTreeSet<_>>())
}

fn text(answer: &str) -> Response {
    Response::Text(answer.to_owned())
}

/// Two multiple-choice questions worth 3 and 7 (correct: option 0; options 0 and 2), 70 % to
/// pass, two attempts.
fn choice_quiz() -> NewAssessment {
    NewAssessment {
        title: "Kuis Tipe Data".into(),
        passing_score: 70,
        max_attempts: 2,
        time_limit_minutes: None,
        questions: vec![
            NewQuestion::multiple_choice("Tipe teks milik sendiri?", &["String", "&str", "char"], &[0], 3),
            NewQuestion::multiple_choice("Tipe bilangan bulat?", &["i32", "f64", "u8"], &[0, 2], 7),
        ],
    }
}

/// One multiple-choice question worth 4 and two open questions worth 3 each, 50 % to pass.
fn mixed_quiz() -> NewAssessment {
    NewAssessment {
        title: "Ujian Ownership".into(),
        passing_score: 50,
        max_attempts: 3,
        time_limit_minutes: None,
        questions: vec![
            NewQuestion::multiple_choice("Pemilik nilai ada berapa?", &["Satu", "Dua"], &[0], 4),
            NewQuestion::open("Jelaskan ownership.", 3),
            NewQuestion::open("Jelaskan borrowing.", 3),
        ],
    }
}

// ---- authoring -----------------------------------------------------------------------------

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

// ---- attempts ------------------------------------------------------------------------------

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

// ---- submitting ----------------------------------------------------------------------------

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

// ---- manual grading ------------------------------------------------------------------------

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

/// A submitted attempt with an open answer to question 1 waiting for the instructor.
async fn waiting(h: &Harness) -> (Quiz, AttemptId) {
    let quiz = h.create(mixed_quiz()).await;
    let attempt = h.start(&quiz).await;
    h.assessments
        .submit(h.learner, attempt, vec![(quiz.q(1), text("Jawaban."))])
        .await
        .unwrap();
    (quiz, attempt)
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

// ---- the learner's notification ------------------------------------------------------------

#[tokio::test]
async fn the_learner_is_notified_of_the_grade_once_the_grading_has_committed() {
    let (h, notifications) = harness().await;
    let (quiz, attempt) = waiting(&h).await;
    notifications.assert_nothing_sent();

    h.assessments
        .grade_answer(h.instructor, attempt, quiz.q(1), 3, Some("Bagus"))
        .await
        .unwrap();
    notifications.assert_nothing_sent();
    let report = drain(&h.bus).await;

    assert_eq!(report.processed, 1);
    notifications.assert_sent_to(h.learner, "assessment.graded");
    notifications.assert_sent_times("assessment.graded", 1);
}

#[tokio::test]
async fn the_graded_notification_is_stored_and_mailed_once_even_if_the_job_runs_twice() {
    let mail = Arc::new(MemoryTransport::default());
    let notifier = Arc::new(Notifier::new(
        mail.clone(),
        AppUrl::parse("https://lms.example.id").unwrap(),
        "Enteraksi",
        "noreply@example.id",
    ));
    let h = Harness::new(notifier.clone(), mail.clone()).await;
    let quiz = h.create(choice_quiz()).await;
    let attempt = h.start(&quiz).await;
    h.assessments
        .submit(
            h.learner,
            attempt,
            vec![(quiz.q(0), choices(&[0])), (quiz.q(1), choices(&[0, 2]))],
        )
        .await
        .unwrap();
    drain(&h.bus).await;

    // The job delivered again (a worker crashed after sending, before acknowledging).
    let event = h.fake.dispatched::<AssessmentGraded>().pop().unwrap();
    let mut job = JobContext::standalone(&h.bus, NotifyUserOfGradedAssessment::NAME, event.meta());
    NotifyUserOfGradedAssessment::new(notifier)
        .handle(&event, &mut job)
        .await
        .unwrap();
    job.finish().await.unwrap();

    let stored = notifications_of(&mut *h.conn().await, h.learner, true).await.unwrap();
    let graded: Vec<_> = stored.iter().filter(|n| n.kind == "assessment.graded").collect();
    assert_eq!(graded.len(), 1);
    assert_eq!(
        graded[0].data["message"],
        "Penilaian \"Kuis Tipe Data\" telah dinilai: 10/10 (lulus)"
    );
    let sent: Vec<_> = mail
        .sent()
        .into_iter()
        .filter(|m| m.subject == "Penilaian Anda: Kuis Tipe Data")
        .collect();
    assert_eq!(sent.len(), 1);
}

// ---- PostgreSQL ----------------------------------------------------------------------------

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
