//! The enrollment context against a real (temporary) SQLite database, through its public API:
//! the commands and their events, audit rows and broadcasts, the queued listeners
//! (notifications, certificates) drained by a real worker, and every refusal leaving no row and
//! no event. The delayed inactivity reminder also runs on PostgreSQL (its readiness is the
//! database's clock there, offset by the test's clock).

use std::sync::Arc;

use async_trait::async_trait;
use course::{
    CourseArchived, CoursePublished, CourseService, CourseStatus, CourseUnpublished, EnrollmentCounts,
    EnrollmentCountsError, EnrollmentTally, LessonKind,
};
use enrollment::{
    EnrollmentCompleted, EnrollmentError, EnrollmentNotifications, EnrollmentService, EnrollmentStatus,
    GenerateCertificate, InvalidTransition, Percentage, UserDropped, UserEnrolled, UserReenrolled,
};
use shared_kernel::notifications::{
    AppUrl, MailTransport, MemoryTransport, NotificationSender, Notifier, SendMail, notification_queue_options,
    notifications_of,
};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::{EventFake, NotificationFake, TestDb, drain};
use shared_kernel::users::create_user;
use shared_kernel::{
    AuditLog, AuditQuery, CourseId, EnrollmentId, EventBus, InProcessHub, JobContext, LogDomainEvent, ManualClock,
    QueuedListener, Registry, UserId,
};

/// The inactivity reminder's delay in these tests (as app's default).
const REMIND_AFTER: std::time::Duration = enrollment::DEFAULT_REMINDER_AFTER;

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

struct Harness {
    db: TestDb,
    bus: EventBus,
    clock: Arc<ManualClock>,
    fake: Arc<EventFake>,
    hub: Arc<InProcessHub>,
    courses: CourseService,
    enrollments: EnrollmentService,
    instructor: UserId,
    learner: UserId,
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
        .subscribe(EnrollmentNotifications::new(notifier, REMIND_AFTER))
        .listen_queued::<EnrollmentCompleted, _>(GenerateCertificate::new(), GenerateCertificate::queue_options())
        .build()
        .expect("the enrollment registry is valid")
}

fn migrators() -> Vec<shared_kernel::sqlx::migrate::Migrator> {
    vec![course::migrator(), enrollment::migrator()]
}

impl Harness {
    async fn new(notifier: Arc<dyn NotificationSender>, mail: Arc<dyn MailTransport>) -> Self {
        Self::on(TestDb::new(migrators()).await, notifier, mail).await
    }

    async fn on(db: TestDb, notifier: Arc<dyn NotificationSender>, mail: Arc<dyn MailTransport>) -> Self {
        let fake = EventFake::new();
        let hub = Arc::new(InProcessHub::default());
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let bus = EventBus::builder(db.db().clone(), Arc::new(registry(notifier, mail)))
            .observer(fake.clone())
            .broadcaster(hub.clone())
            .clock(clock.clone())
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
            db,
            bus,
            clock,
            fake,
            hub,
            instructor,
            learner,
        }
    }

    async fn conn(&self) -> shared_kernel::sqlx::pool::PoolConnection<shared_kernel::sqlx::Any> {
        self.bus.db().writer().acquire().await.unwrap()
    }

    async fn course(&self, status: CourseStatus) -> CourseId {
        let id = self
            .courses
            .create(self.instructor, "Rust Dasar", "Belajar Rust dari nol")
            .await
            .unwrap();
        self.courses
            .add_lesson(self.instructor, id, "Pengenalan", LessonKind::Content)
            .await
            .unwrap();
        match status {
            CourseStatus::Draft => {}
            CourseStatus::Published => self.courses.publish(self.instructor, id).await.unwrap(),
            CourseStatus::Archived => self.courses.archive(self.instructor, id).await.unwrap(),
        }
        id
    }

    async fn enrolled(&self) -> (CourseId, EnrollmentId) {
        let course = self.course(CourseStatus::Published).await;
        let enrollment = self
            .enrollments
            .enroll(self.learner, self.learner, course)
            .await
            .unwrap();
        (course, enrollment)
    }

    async fn completed(&self) -> EnrollmentId {
        let (_, enrollment) = self.enrolled().await;
        self.enrollments.complete(self.learner, enrollment, 5400).await.unwrap();
        enrollment
    }

    async fn find(&self, id: EnrollmentId) -> enrollment::Enrollment {
        enrollment::find(&mut *self.conn().await, id).await.unwrap().unwrap()
    }

    async fn count(&self, table: &'static str) -> i64 {
        let sql = match table {
            "enrollments" => "SELECT COUNT(*) FROM enrollments",
            "certificates" => "SELECT COUNT(*) FROM certificates",
            _ => unreachable!("a table of this context"),
        };
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *self.conn().await).await.unwrap();
        n
    }

    async fn audit_of(&self, id: EnrollmentId) -> Vec<shared_kernel::AuditEntry> {
        AuditLog::new(self.bus.db().clone())
            .query(&AuditQuery::new().aggregate("enrollment", Some(id.to_string())))
            .await
            .unwrap()
    }
}

async fn harness() -> (Harness, Arc<NotificationFake>) {
    let notifications = NotificationFake::new();
    (
        Harness::new(notifications.clone(), Arc::new(MemoryTransport::default())).await,
        notifications,
    )
}

// ---- enrolling -----------------------------------------------------------------------------

#[tokio::test]
async fn enrolling_in_a_published_course_records_user_enrolled_with_the_catalog_metadata() {
    let (h, _) = harness().await;
    let course = h.course(CourseStatus::Published).await;
    let mut learners_channel = h.hub.subscribe(&format!("private-user.{}", h.learner));

    let id = h.enrollments.enroll(h.learner, h.learner, course).await.unwrap();

    let enrollment = h.find(id).await;
    assert_eq!(enrollment.status(), EnrollmentStatus::Active);
    assert_eq!(enrollment.progress(), Percentage::ZERO);
    assert_eq!(enrollment.invited_by(), None);
    h.fake.assert_dispatched_times::<UserEnrolled>(1);
    let audit = h.audit_of(id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].event_name, "enrollment.created");
    assert_eq!(
        audit[0].metadata,
        serde_json::json!({
            "enrollment_id": id,
            "user_id": h.learner,
            "course_id": course,
            "course_title": "Rust Dasar",
            "invited_by": null,
        })
    );
    let message = learners_channel.try_recv().expect("a broadcast to the learner");
    assert_eq!(message.event, "enrollment.created");
}

#[tokio::test]
async fn an_instructor_enrolling_a_learner_is_recorded_as_inviting_them() {
    let (h, _) = harness().await;
    let course = h.course(CourseStatus::Published).await;

    let id = h.enrollments.enroll(h.instructor, h.learner, course).await.unwrap();

    assert_eq!(h.find(id).await.invited_by(), Some(h.instructor));
    h.fake
        .assert_dispatched::<UserEnrolled>(|e| e.user_id == h.learner && e.invited_by == Some(h.instructor));
    assert_eq!(h.audit_of(id).await[0].actor_id, Some(h.instructor));
}

#[tokio::test]
async fn the_learner_is_welcomed_once_the_enrollment_has_committed() {
    let (h, notifications) = harness().await;
    let course = h.course(CourseStatus::Published).await;

    h.enrollments.enroll(h.learner, h.learner, course).await.unwrap();
    notifications.assert_nothing_sent();
    let report = drain(&h.bus).await;

    assert_eq!(report.processed, 1);
    notifications.assert_sent_to(h.learner, "enrollment.welcome");
    notifications.assert_sent_times("enrollment.welcome", 1);
}

#[tokio::test]
async fn enrolling_in_a_draft_course_is_refused_and_records_nothing() {
    let (h, notifications) = harness().await;
    let course = h.course(CourseStatus::Draft).await;
    h.fake.clear();

    let err = h.enrollments.enroll(h.learner, h.learner, course).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::CourseNotPublished { course: c, status: CourseStatus::Draft } if c == course
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count("enrollments").await, 0);
    drain(&h.bus).await;
    notifications.assert_nothing_sent();
}

#[tokio::test]
async fn enrolling_in_an_archived_course_is_refused_and_records_nothing() {
    let (h, _) = harness().await;
    let course = h.course(CourseStatus::Archived).await;
    h.fake.clear();

    let err = h.enrollments.enroll(h.learner, h.learner, course).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::CourseNotPublished {
            status: CourseStatus::Archived,
            ..
        }
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count("enrollments").await, 0);
}

#[tokio::test]
async fn a_second_active_enrollment_in_the_same_course_is_already_enrolled() {
    let (h, _) = harness().await;
    let (course, first) = h.enrolled().await;
    let before = h.find(first).await;
    h.fake.clear();

    let err = h.enrollments.enroll(h.instructor, h.learner, course).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::AlreadyEnrolled { user, course: c } if user == h.learner && c == course
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count("enrollments").await, 1);
    assert_eq!(h.find(first).await, before);
}

#[tokio::test]
async fn enrolling_someone_the_users_store_does_not_know_is_refused() {
    let (h, _) = harness().await;
    let course = h.course(CourseStatus::Published).await;
    let stranger = UserId::new();
    h.fake.clear();

    let err = h.enrollments.enroll(h.instructor, stranger, course).await.unwrap_err();

    assert!(matches!(err, EnrollmentError::UserNotFound(u) if u == stranger));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count("enrollments").await, 0);
}

#[tokio::test]
async fn enrolling_in_an_unknown_course_is_not_found() {
    let (h, _) = harness().await;
    let unknown = CourseId::new();

    let err = h.enrollments.enroll(h.learner, h.learner, unknown).await.unwrap_err();

    assert!(matches!(err, EnrollmentError::CourseNotFound(c) if c == unknown));
    h.fake.assert_nothing_dispatched();
}

// ---- dropping and re-enrolling ---------------------------------------------------------------

#[tokio::test]
async fn dropping_an_active_enrollment_records_the_reason_and_the_progress_at_drop() {
    let (h, _) = harness().await;
    let (course, id) = h.enrolled().await;
    let mut uow = h.bus.begin();
    enrollment::set_progress_in(&mut uow, id, Percentage::new(40.0).unwrap())
        .await
        .unwrap();
    uow.commit().await.unwrap();

    h.enrollments
        .drop_out(h.learner, id, Some("  pindah kerja  "))
        .await
        .unwrap();

    let dropped = h.find(id).await;
    assert_eq!(dropped.status(), EnrollmentStatus::Dropped);
    assert_eq!(dropped.drop_reason().map(|r| r.as_str()), Some("pindah kerja"));
    h.fake.assert_dispatched::<UserDropped>(|e| {
        e.enrollment_id == id
            && e.course_id == course
            && e.reason.as_deref() == Some("pindah kerja")
            && e.progress_at_drop == 40.0
    });
    let audit = h.audit_of(id).await;
    let row = audit.iter().find(|a| a.event_name == "enrollment.dropped").unwrap();
    assert_eq!(row.metadata["progress_at_drop"], 40.0);
    assert_eq!(row.metadata["reason"], "pindah kerja");
}

#[tokio::test]
async fn a_completed_enrollment_cannot_be_dropped() {
    let (h, _) = harness().await;
    let id = h.completed().await;
    let before = h.find(id).await;
    h.fake.clear();

    let err = h.enrollments.drop_out(h.learner, id, None).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::InvalidTransition(InvalidTransition {
            from: EnrollmentStatus::Completed,
            to: EnrollmentStatus::Dropped
        })
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(id).await, before);
}

#[tokio::test]
async fn re_enrolling_a_dropped_enrollment_keeps_its_progress() {
    let (h, _) = harness().await;
    let (_, id) = h.enrolled().await;
    let mut uow = h.bus.begin();
    enrollment::set_progress_in(&mut uow, id, Percentage::new(60.0).unwrap())
        .await
        .unwrap();
    uow.commit().await.unwrap();
    h.enrollments.drop_out(h.learner, id, None).await.unwrap();

    h.enrollments.reenroll(h.learner, id).await.unwrap();

    let back = h.find(id).await;
    assert_eq!(back.status(), EnrollmentStatus::Active);
    assert_eq!(back.progress().value(), 60.0);
    assert_eq!(back.dropped_at(), None);
    h.fake.assert_dispatched::<UserReenrolled>(|e| {
        e.enrollment_id == id && e.previous_status == EnrollmentStatus::Dropped
    });
    let names: Vec<String> = h.audit_of(id).await.into_iter().map(|a| a.event_name).collect();
    assert_eq!(
        names,
        ["enrollment.created", "enrollment.dropped", "enrollment.reenrolled"]
    );
}

#[tokio::test]
async fn re_enrolling_an_active_enrollment_is_refused() {
    let (h, _) = harness().await;
    let (_, id) = h.enrolled().await;
    let before = h.find(id).await;
    h.fake.clear();

    let err = h.enrollments.reenroll(h.learner, id).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::InvalidTransition(InvalidTransition {
            from: EnrollmentStatus::Active,
            to: EnrollmentStatus::Active
        })
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(id).await, before);
}

#[tokio::test]
async fn re_enrolling_after_enrolling_anew_is_already_enrolled() {
    let (h, _) = harness().await;
    let (course, first) = h.enrolled().await;
    h.enrollments.drop_out(h.learner, first, None).await.unwrap();
    h.enrollments.enroll(h.learner, h.learner, course).await.unwrap();
    h.fake.clear();

    let err = h.enrollments.reenroll(h.learner, first).await.unwrap_err();

    assert!(matches!(err, EnrollmentError::AlreadyEnrolled { .. }));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(first).await.status(), EnrollmentStatus::Dropped);
}

#[tokio::test]
async fn re_enrolling_in_a_course_that_was_unpublished_is_refused() {
    let (h, _) = harness().await;
    let (course, id) = h.enrolled().await;
    h.enrollments.drop_out(h.learner, id, None).await.unwrap();
    h.courses.unpublish(h.instructor, course).await.unwrap();
    h.fake.clear();

    let err = h.enrollments.reenroll(h.learner, id).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::CourseNotPublished {
            status: CourseStatus::Draft,
            ..
        }
    ));
    h.fake.assert_nothing_dispatched();
}

// ---- progress and completion -----------------------------------------------------------------

#[tokio::test]
async fn progress_is_set_inside_the_callers_unit_of_work_and_rolls_back_with_it() {
    let (h, _) = harness().await;
    let (_, id) = h.enrolled().await;

    let mut uow = h.bus.begin();
    let inside = enrollment::set_progress_in(&mut uow, id, Percentage::new(50.0).unwrap())
        .await
        .unwrap();
    uow.rollback().await.unwrap();

    assert_eq!(inside.progress().value(), 50.0);
    assert_eq!(h.find(id).await.progress(), Percentage::ZERO);
}

#[tokio::test]
async fn a_dropped_enrollment_makes_no_progress() {
    let (h, _) = harness().await;
    let (_, id) = h.enrolled().await;
    h.enrollments.drop_out(h.learner, id, None).await.unwrap();

    let mut uow = h.bus.begin();
    let err = enrollment::set_progress_in(&mut uow, id, Percentage::FULL)
        .await
        .unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::NotActive {
            status: EnrollmentStatus::Dropped,
            ..
        }
    ));
}

#[tokio::test]
async fn completing_records_enrollment_completed_with_the_learners_name_and_time_spent() {
    let (h, _) = harness().await;
    let (course, id) = h.enrolled().await;
    let mut learners_channel = h.hub.subscribe(&format!("private-user.{}", h.learner));

    h.enrollments.complete(h.learner, id, 5400).await.unwrap();

    let completed = h.find(id).await;
    assert_eq!(completed.status(), EnrollmentStatus::Completed);
    assert!(completed.progress().is_full());
    let completed_at = completed.completed_at().expect("a completion time");
    h.fake.assert_dispatched_times::<EnrollmentCompleted>(1);
    let audit = h.audit_of(id).await;
    let row = audit.iter().find(|a| a.event_name == "enrollment.completed").unwrap();
    assert_eq!(
        row.metadata,
        serde_json::json!({
            "enrollment_id": id,
            "user_id": h.learner,
            "user_name": "Siti Rahma",
            "course_id": course,
            "course_title": "Rust Dasar",
            "enrolled_at": shared_kernel::to_db_text(completed.enrolled_at()),
            "completed_at": shared_kernel::to_db_text(completed_at),
            "total_time_spent": 5400,
        })
    );
    assert_eq!(
        learners_channel.try_recv().expect("a broadcast to the learner").event,
        "enrollment.completed"
    );
}

#[tokio::test]
async fn an_enrollment_is_completed_only_once() {
    let (h, _) = harness().await;
    let id = h.completed().await;
    let before = h.find(id).await;

    let err = h.enrollments.complete(h.learner, id, 60).await.unwrap_err();

    assert!(matches!(
        err,
        EnrollmentError::InvalidTransition(InvalidTransition {
            from: EnrollmentStatus::Completed,
            to: EnrollmentStatus::Completed
        })
    ));
    h.fake.assert_dispatched_times::<EnrollmentCompleted>(1);
    assert_eq!(h.find(id).await, before);
}

#[tokio::test]
async fn has_completed_answers_for_completed_enrollments_only() {
    let (h, _) = harness().await;
    let (course, id) = h.enrolled().await;
    let other = h.course(CourseStatus::Published).await;
    assert!(
        !enrollment::has_completed(&mut *h.conn().await, h.learner, course)
            .await
            .unwrap()
    );

    h.enrollments.complete(h.learner, id, 60).await.unwrap();

    assert!(
        enrollment::has_completed(&mut *h.conn().await, h.learner, course)
            .await
            .unwrap()
    );
    assert!(
        !enrollment::has_completed(&mut *h.conn().await, h.learner, other)
            .await
            .unwrap()
    );
    assert!(
        !enrollment::has_completed(&mut *h.conn().await, h.instructor, course)
            .await
            .unwrap()
    );
    let dropped = h.enrollments.enroll(h.learner, h.learner, other).await.unwrap();
    h.enrollments.drop_out(h.learner, dropped, None).await.unwrap();
    assert!(
        !enrollment::has_completed(&mut *h.conn().await, h.learner, other)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_learner_is_congratulated_once_however_often_the_queues_are_drained() {
    let (h, notifications) = harness().await;
    h.completed().await;

    drain(&h.bus).await;
    drain(&h.bus).await;

    notifications.assert_sent_to(h.learner, "enrollment.completed");
    notifications.assert_sent_times("enrollment.completed", 1);
}

// ---- certificates --------------------------------------------------------------------------

#[tokio::test]
async fn a_completed_enrollment_gets_one_certificate_with_a_verifiable_code() {
    let (h, _) = harness().await;
    let id = h.completed().await;

    drain(&h.bus).await;

    let certificate = enrollment::certificate_of(&mut *h.conn().await, id)
        .await
        .unwrap()
        .expect("a certificate");
    assert_eq!(certificate.user_id(), h.learner);
    assert_eq!(certificate.verification_code().as_str().len(), 12);
    let typed = certificate.verification_code().as_str().to_lowercase();
    let verified = enrollment::verify_certificate(&mut *h.conn().await, &typed)
        .await
        .unwrap();
    assert_eq!(verified, Some(certificate));
    assert_eq!(
        enrollment::verify_certificate(&mut *h.conn().await, "ABCDEFGHJKLM")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn the_certificate_job_running_twice_still_leaves_one_certificate() {
    let (h, _) = harness().await;
    let id = h.completed().await;
    drain(&h.bus).await;
    let first = enrollment::certificate_of(&mut *h.conn().await, id)
        .await
        .unwrap()
        .unwrap();
    let event = h.fake.dispatched::<EnrollmentCompleted>().pop().unwrap();

    let mut job = JobContext::standalone(&h.bus, "GenerateCertificate", event.meta());
    GenerateCertificate::new().handle(&event, &mut job).await.unwrap();
    job.finish().await.unwrap();

    assert_eq!(h.count("certificates").await, 1);
    let again = enrollment::certificate_of(&mut *h.conn().await, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, first);
}

#[tokio::test]
async fn no_certificate_is_issued_before_the_job_runs() {
    let (h, _) = harness().await;
    let id = h.completed().await;

    let certificate = enrollment::certificate_of(&mut *h.conn().await, id).await.unwrap();

    assert_eq!(certificate, None);
}

// ---- counts and real notifications -----------------------------------------------------------

#[tokio::test]
async fn a_course_tally_counts_enrollments_by_state() {
    let (h, _) = harness().await;
    let (course, dropped) = h.enrolled().await;
    h.enrollments.drop_out(h.learner, dropped, None).await.unwrap();
    let completed = h.enrollments.enroll(h.learner, h.learner, course).await.unwrap();
    h.enrollments.complete(h.learner, completed, 0).await.unwrap();
    h.enrollments.enroll(h.instructor, h.instructor, course).await.unwrap();

    let tally = enrollment::tally(&mut *h.conn().await, course).await.unwrap();

    assert_eq!(
        tally,
        EnrollmentTally {
            active: 1,
            completed: 1,
            total: 3
        }
    );
}

#[tokio::test]
async fn the_real_notifier_stores_the_welcome_with_the_seeds_payload_and_mails_it() {
    let mail = Arc::new(MemoryTransport::default());
    let notifier = Notifier::new(
        mail.clone(),
        AppUrl::parse("https://lms.example.id").unwrap(),
        "Enteraksi",
        "noreply@example.id",
    );
    let h = Harness::new(Arc::new(notifier), mail.clone()).await;
    let course = h.course(CourseStatus::Published).await;
    h.enrollments.enroll(h.learner, h.learner, course).await.unwrap();

    drain(&h.bus).await;

    let stored = notifications_of(&mut *h.conn().await, h.learner, true).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].kind, "enrollment.welcome");
    assert_eq!(
        stored[0].data["message"],
        "Anda berhasil mendaftar di kursus \"Rust Dasar\""
    );
    let sent = mail.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "Selamat bergabung di Rust Dasar");
}

// ---- the inactivity reminder (a delayed listener) ------------------------------------------

/// Runs a reminder scenario on SQLite and, when `ENTERAKSI_TEST_POSTGRES_URL` is set, on a
/// fresh PostgreSQL database (without it, the PostgreSQL half says that it did not run).
macro_rules! on_both {
    ($name:ident, $scenario:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                scenario(TestDb::new(migrators()).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let test = concat!(stringify!($name), "_postgres");
                if let Some(db) = TestDb::postgres(test, migrators()).await {
                    scenario(db).await;
                }
            }

            async fn scenario(db: TestDb) {
                let notifications = NotificationFake::new();
                let h = Harness::on(db, notifications.clone(), Arc::new(MemoryTransport::default())).await;
                super::$scenario(&h, &notifications).await;
                h.db.cleanup().await;
            }
        }
    };
}

on_both!(
    a_learner_who_has_not_started_is_reminded_when_the_reminder_is_due_and_only_then,
    reminded_when_due
);
async fn reminded_when_due(h: &Harness, notifications: &NotificationFake) {
    h.enrolled().await;
    drain(&h.bus).await;
    notifications.assert_sent_times("enrollment.inactivity_reminder", 0);
    // A minute before it is due: still nothing.
    h.clock
        .advance(chrono::Duration::from_std(REMIND_AFTER).unwrap() - chrono::Duration::minutes(1));
    drain(&h.bus).await;
    notifications.assert_sent_times("enrollment.inactivity_reminder", 0);
    h.clock.advance(chrono::Duration::minutes(2));
    let report = drain(&h.bus).await;
    assert_eq!(report.processed, 1, "the reminder job ran once it was due");
    notifications.assert_sent_to(h.learner, "enrollment.inactivity_reminder");
    notifications.assert_sent_times("enrollment.inactivity_reminder", 1);
    drain(&h.bus).await;
    notifications.assert_sent_times("enrollment.inactivity_reminder", 1);
}

on_both!(
    a_learner_who_completed_a_lesson_or_dropped_is_not_reminded,
    not_reminded
);
async fn not_reminded(h: &Harness, notifications: &NotificationFake) {
    // Started: a lesson completed (the progress context sets the course progress).
    let (_, started) = h.enrolled().await;
    let mut uow = h.bus.begin();
    enrollment::set_progress_in(&mut uow, started, Percentage::new(50.0).unwrap())
        .await
        .unwrap();
    uow.commit().await.unwrap();
    // Dropped.
    let (_, dropped) = h.enrolled().await;
    h.enrollments
        .drop_out(h.learner, dropped, Some("pindah jadwal"))
        .await
        .unwrap();
    h.clock
        .advance(chrono::Duration::from_std(REMIND_AFTER).unwrap() + chrono::Duration::minutes(1));
    drain(&h.bus).await;
    notifications.assert_sent_times("enrollment.inactivity_reminder", 0);
    let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
        .fetch_one(&mut *h.conn().await)
        .await
        .unwrap();
    assert_eq!(pending, 0, "both reminder jobs ran and did nothing");
}

#[test]
fn the_reminder_speaks_indonesian_and_links_to_the_course() {
    use shared_kernel::notifications::Notification;
    let course = CourseId::new();
    let reminder = enrollment::InactivityReminder::new(course, "Rust Dasar", 3);
    let user = shared_kernel::users::User::new(UserId::new(), "Siti", "siti@example.id", "id").unwrap();
    let mail = reminder.to_mail(&user, &AppUrl::parse("https://lms.example.id").unwrap());
    let text = format!("{mail:?}");
    assert!(text.contains("Sudah 3 hari"), "{text}");
    assert!(text.contains(&format!("courses/{course}/learn")), "{text}");
    assert_eq!(reminder.to_database(&user)["type"], "enrollment.inactivity_reminder");
}
