//! The progress context against a real (temporary) SQLite database, through its public API:
//! lesson completion and its cascade (course progress, enrollment completion, certificate),
//! time spent, partial progress, and every refusal leaving no row and no event. The
//! `RecalculateCourseProgress` listener is also tested alone against a mock of its port.

use std::sync::Arc;

use assessment::AssessmentGraded;
use async_trait::async_trait;
use chrono::Utc;
use course::{
    CourseArchived, CoursePublished, CourseService, CourseUnpublished, EnrollmentCounts, EnrollmentCountsError,
    EnrollmentTally, LessonKind,
};
use enrollment::{
    EnrollmentCompleted, EnrollmentService, EnrollmentStatus, GenerateCertificate, Percentage, UserDropped,
    UserEnrolled, UserReenrolled,
};
use progress::{
    CompleteLessonOnPassedAssessment, CourseProgressTracker, LessonCompleted, LessonCompletion, MockProgressTracking,
    ProgressError, ProgressService, ProgressTracking, ProgressUpdated, RecalculateCourseProgress,
};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::{EventFake, TestDb, drain};
use shared_kernel::users::create_user;
use shared_kernel::{
    AssessmentId, AttemptId, AuditLog, AuditQuery, CorrelationId, CourseId, DomainEvent, EnrollmentId, Envelope,
    EventBus, EventId, EventMeta, InProcessHub, LessonId, LogDomainEvent, Registry, SyncListener, UserId,
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

fn registry(tracking: Arc<dyn ProgressTracking>) -> Registry {
    Registry::builder()
        // ProgressUpdated is broadcast only: the catalog keeps it out of the audit log.
        .listen_all_sync(LogDomainEvent, &[ProgressUpdated::NAME])
        .event::<CoursePublished>()
        .event::<CourseUnpublished>()
        .event::<CourseArchived>()
        .event::<UserEnrolled>()
        .event::<UserReenrolled>()
        .event::<UserDropped>()
        .listen_queued::<EnrollmentCompleted, _>(GenerateCertificate::new(), GenerateCertificate::queue_options())
        .listen_sync::<LessonCompleted, _>(RecalculateCourseProgress::new(tracking))
        .event::<ProgressUpdated>()
        .listen_sync::<AssessmentGraded, _>(CompleteLessonOnPassedAssessment::new())
        .build()
        .expect("the progress registry is valid")
}

struct Harness {
    _db: TestDb,
    bus: EventBus,
    fake: Arc<EventFake>,
    hub: Arc<InProcessHub>,
    courses: CourseService,
    enrollments: EnrollmentService,
    progress: ProgressService,
    instructor: UserId,
    learner: UserId,
}

/// A published course with its lessons, and the learner's active enrollment in it.
struct Enrolled {
    course: CourseId,
    lessons: Vec<LessonId>,
    enrollment: EnrollmentId,
}

impl Harness {
    async fn new() -> Self {
        Self::tracking_with(Arc::new(CourseProgressTracker::new())).await
    }

    async fn tracking_with(tracking: Arc<dyn ProgressTracking>) -> Self {
        let db = TestDb::new(vec![course::migrator(), enrollment::migrator(), progress::migrator()]).await;
        let fake = EventFake::new();
        let hub = Arc::new(InProcessHub::default());
        let bus = EventBus::builder(db.db().clone(), Arc::new(registry(tracking)))
            .observer(fake.clone())
            .broadcaster(hub.clone())
            .build();
        let mut conn = db.db().writer().acquire().await.unwrap();
        let instructor = create_user(&mut conn, "Budi Santoso", "budi@example.id", "id")
            .await
            .unwrap()
            .id();
        let learner = create_user(&mut conn, "Siti Rahma", "siti@example.id", "id")
            .await
            .unwrap()
            .id();
        drop(conn);
        Self {
            courses: CourseService::new(bus.clone(), Arc::new(CountEnrollments)),
            enrollments: EnrollmentService::new(bus.clone()),
            progress: ProgressService::new(bus.clone()),
            _db: db,
            bus,
            fake,
            hub,
            instructor,
            learner,
        }
    }

    async fn conn(&self) -> shared_kernel::sqlx::pool::PoolConnection<shared_kernel::sqlx::Any> {
        self.bus.db().writer().acquire().await.unwrap()
    }

    async fn published_course(&self, title: &str, lessons: &[&str]) -> (CourseId, Vec<LessonId>) {
        let course = self.courses.create(self.instructor, title, "").await.unwrap();
        let mut ids = Vec::new();
        for lesson in lessons {
            ids.push(
                self.courses
                    .add_lesson(self.instructor, course, lesson, LessonKind::Content)
                    .await
                    .unwrap(),
            );
        }
        self.courses.publish(self.instructor, course).await.unwrap();
        (course, ids)
    }

    async fn enrolled(&self, lessons: &[&str]) -> Enrolled {
        let (course, lessons) = self.published_course("Rust Dasar", lessons).await;
        let enrollment = self
            .enrollments
            .enroll(self.learner, self.learner, course)
            .await
            .unwrap();
        Enrolled {
            course,
            lessons,
            enrollment,
        }
    }

    async fn enrollment(&self, id: EnrollmentId) -> enrollment::Enrollment {
        enrollment::find(&mut *self.conn().await, id).await.unwrap().unwrap()
    }

    async fn lesson_progress(&self, enrollment: EnrollmentId, lesson: LessonId) -> Option<progress::LessonProgress> {
        progress::lesson_progress(&mut *self.conn().await, enrollment, lesson)
            .await
            .unwrap()
    }

    async fn progress_rows(&self) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM lesson_progress")
            .fetch_one(&mut *self.conn().await)
            .await
            .unwrap();
        n
    }

    async fn audit_of(&self, id: EnrollmentId) -> Vec<shared_kernel::AuditEntry> {
        AuditLog::new(self.bus.db().clone())
            .query(&AuditQuery::new().aggregate("enrollment", Some(id.to_string())))
            .await
            .unwrap()
    }
}

// ---- completing lessons --------------------------------------------------------------------

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

// ---- time spent and partial progress ---------------------------------------------------------

#[tokio::test]
async fn time_spent_accumulates_per_lesson() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Ownership"]).await;

    let first = h
        .progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 30)
        .await
        .unwrap();
    let second = h
        .progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 45)
        .await
        .unwrap();
    h.progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[1], 10)
        .await
        .unwrap();

    assert_eq!((first, second), (30, 75));
    let lesson = h.lesson_progress(e.enrollment, e.lessons[0]).await.unwrap();
    assert_eq!(lesson.time_spent_seconds(), 75);
    assert!(!lesson.is_completed());
    assert_eq!(
        progress::total_time_spent(&mut *h.conn().await, e.enrollment)
            .await
            .unwrap(),
        85
    );
    h.fake.assert_not_dispatched::<ProgressUpdated>();
}

#[tokio::test]
async fn time_spent_keeps_counting_on_a_completed_lesson_without_undoing_it() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Ownership"]).await;
    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();

    h.progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 120)
        .await
        .unwrap();

    let lesson = h.lesson_progress(e.enrollment, e.lessons[0]).await.unwrap();
    assert_eq!(lesson.time_spent_seconds(), 120);
    assert!(lesson.is_completed());
}

#[tokio::test]
async fn an_impossible_time_spent_is_refused_and_writes_nothing() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan"]).await;
    h.fake.clear();

    let none = h
        .progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 0)
        .await
        .unwrap_err();
    let too_long = h
        .progress
        .record_time_spent(h.learner, e.enrollment, e.lessons[0], 86_401)
        .await
        .unwrap_err();

    assert!(matches!(none, ProgressError::InvalidTimeSpent(_)));
    assert!(matches!(too_long, ProgressError::InvalidTimeSpent(_)));
    assert_eq!(h.progress_rows().await, 0);
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn partial_progress_is_broadcast_to_the_learner_and_not_audited() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan"]).await;
    let mut learners_channel = h.hub.subscribe(&format!("private-user.{}", h.learner));
    let audited_before = h.audit_of(e.enrollment).await.len();

    h.progress
        .update_lesson_progress(h.learner, e.enrollment, e.lessons[0], 40.0)
        .await
        .unwrap();

    let lesson = h.lesson_progress(e.enrollment, e.lessons[0]).await.unwrap();
    assert_eq!(lesson.percentage().value(), 40.0);
    h.fake.assert_dispatched::<ProgressUpdated>(|p| {
        p.lesson_id == e.lessons[0] && p.lesson_progress == 40.0 && p.course_progress == 0.0 && !p.is_completed
    });
    let message = learners_channel.try_recv().unwrap();
    assert_eq!(message.event, "progress.updated");
    assert_eq!(message.data["lesson_progress"], 40.0);
    assert_eq!(h.audit_of(e.enrollment).await.len(), audited_before);
}

#[tokio::test]
async fn partial_progress_cannot_lower_a_completed_lesson() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan", "Ownership"]).await;
    h.progress
        .complete_lesson(h.learner, e.enrollment, e.lessons[0])
        .await
        .unwrap();
    h.fake.clear();

    h.progress
        .update_lesson_progress(h.learner, e.enrollment, e.lessons[0], 10.0)
        .await
        .unwrap();

    assert!(
        h.lesson_progress(e.enrollment, e.lessons[0])
            .await
            .unwrap()
            .percentage()
            .is_full()
    );
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn a_partial_progress_outside_zero_to_a_hundred_is_refused() {
    let h = Harness::new().await;
    let e = h.enrolled(&["Pengenalan"]).await;
    h.fake.clear();

    let err = h
        .progress
        .update_lesson_progress(h.learner, e.enrollment, e.lessons[0], 120.0)
        .await
        .unwrap_err();

    assert!(matches!(err, ProgressError::InvalidPercentage(_)));
    assert_eq!(h.progress_rows().await, 0);
    h.fake.assert_nothing_dispatched();
}

// ---- RecalculateCourseProgress through its port ------------------------------------------------

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

// ---- passing an assessment lesson ------------------------------------------------------------

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
