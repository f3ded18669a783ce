//! What every test here shares: the [`Harness`] (a published course with an instructor, an enrolled
//! learner and an outsider, on a temporary database), the [`Quiz`] drafts and response helpers.

use std::collections::BTreeSet;
use std::sync::Arc;

use assessment::{
    AnswerGraded, AssessmentError, AssessmentGraded, AssessmentService, AssessmentSubmitted, AttemptStarted,
    NewAssessment, NewQuestion, NotifyUserOfGradedAssessment, Response,
};
use async_trait::async_trait;
use chrono::Utc;
use course::{
    CourseArchived, CoursePublished, CourseService, CourseUnpublished, EnrollmentCounts, EnrollmentCountsError,
    EnrollmentTally, LessonKind,
};
use enrollment::{EnrollmentCompleted, EnrollmentService, UserDropped, UserEnrolled, UserReenrolled};
use shared_kernel::notifications::{
    MailTransport, MemoryTransport, NotificationSender, SendMail, notification_queue_options,
};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::{EventFake, NotificationFake, TestDb};
use shared_kernel::users::create_user;
use shared_kernel::{
    AssessmentId, AttemptId, AuditLog, AuditQuery, CourseId, EnrollmentId, EventBus, InProcessHub, LessonId,
    LogDomainEvent, ManualClock, QuestionId, Registry, UserId,
};

/// What `app`'s adapter of course's port does: count through enrollment's read.
pub(crate) struct CountEnrollments;

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

pub(crate) fn migrators() -> Vec<sqlx::migrate::Migrator> {
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
pub(crate) struct Harness {
    pub(crate) db: TestDb,
    pub(crate) bus: EventBus,
    pub(crate) fake: Arc<EventFake>,
    pub(crate) hub: Arc<InProcessHub>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) assessments: AssessmentService,
    pub(crate) enrollments: EnrollmentService,
    pub(crate) instructor: UserId,
    pub(crate) learner: UserId,
    pub(crate) outsider: UserId,
    pub(crate) course: CourseId,
    pub(crate) content_lesson: LessonId,
    pub(crate) quiz_lesson: LessonId,
    pub(crate) enrollment: EnrollmentId,
}

impl Harness {
    pub(crate) async fn new(notifier: Arc<dyn NotificationSender>, mail: Arc<dyn MailTransport>) -> Self {
        Self::on(TestDb::new(migrators()).await, notifier, mail).await
    }

    pub(crate) async fn on(db: TestDb, notifier: Arc<dyn NotificationSender>, mail: Arc<dyn MailTransport>) -> Self {
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

    pub(crate) async fn conn(&self) -> shared_kernel::sqlx::pool::PoolConnection<shared_kernel::sqlx::Any> {
        self.bus.db().writer().acquire().await.unwrap()
    }

    pub(crate) async fn cleanup(self) {
        self.db.cleanup().await;
    }

    /// Creates `draft` as the instructor, without a lesson, and forgets the (absent) events.
    pub(crate) async fn create(&self, draft: NewAssessment) -> Quiz {
        let id = self
            .assessments
            .create(self.instructor, self.course, None, draft)
            .await
            .unwrap();
        self.quiz(id).await
    }

    pub(crate) async fn quiz(&self, id: AssessmentId) -> Quiz {
        let stored = self.find(id).await;
        Quiz {
            id,
            questions: stored.questions().iter().map(|q| q.id()).collect(),
        }
    }

    pub(crate) async fn find(&self, id: AssessmentId) -> assessment::Assessment {
        assessment::find(&mut *self.conn().await, id).await.unwrap().unwrap()
    }

    pub(crate) async fn attempt(&self, id: AttemptId) -> assessment::Attempt {
        assessment::find_attempt(&mut *self.conn().await, id)
            .await
            .unwrap()
            .unwrap()
    }

    pub(crate) async fn start(&self, quiz: &Quiz) -> AttemptId {
        self.assessments.start_attempt(self.learner, quiz.id).await.unwrap()
    }

    /// Rows of every table a command could write, audit log and jobs included.
    pub(crate) async fn rows(&self) -> [i64; 6] {
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
    pub(crate) async fn refused<T: std::fmt::Debug>(
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

    pub(crate) async fn audit_of(&self, attempt: AttemptId) -> Vec<shared_kernel::AuditEntry> {
        AuditLog::new(self.bus.db().clone())
            .query(&AuditQuery::new().aggregate("assessment_attempt", Some(attempt.to_string())))
            .await
            .unwrap()
    }
}

/// An assessment's id and its questions' ids, in order.
pub(crate) struct Quiz {
    pub(crate) id: AssessmentId,
    pub(crate) questions: Vec<QuestionId>,
}

impl Quiz {
    pub(crate) fn q(&self, n: usize) -> QuestionId {
        self.questions[n]
    }
}

pub(crate) async fn harness() -> (Harness, Arc<NotificationFake>) {
    let notifications = NotificationFake::new();
    (
        Harness::new(notifications.clone(), Arc::new(MemoryTransport::default())).await,
        notifications,
    )
}

pub(crate) fn choices(options: &[usize]) -> Response {
    Response::Choices(options.iter().copied().collect::<BTreeSet<_>>())
}

pub(crate) fn text(answer: &str) -> Response {
    Response::Text(answer.to_owned())
}

/// Two multiple-choice questions worth 3 and 7 (correct: option 0; options 0 and 2), 70 % to
/// pass, two attempts.
pub(crate) fn choice_quiz() -> NewAssessment {
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
pub(crate) fn mixed_quiz() -> NewAssessment {
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

/// A submitted attempt with an open answer to question 1 waiting for the instructor.
pub(crate) async fn waiting(h: &Harness) -> (Quiz, AttemptId) {
    let quiz = h.create(mixed_quiz()).await;
    let attempt = h.start(&quiz).await;
    h.assessments
        .submit(h.learner, attempt, vec![(quiz.q(1), text("Jawaban."))])
        .await
        .unwrap();
    (quiz, attempt)
}
