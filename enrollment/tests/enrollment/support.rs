//! What every test here shares: the [`Harness`] (an instructor and a learner on a temporary
//! database, with helpers for courses and enrollments in each state) and [`harness`].

use std::sync::Arc;

use async_trait::async_trait;
use course::{
    CourseArchived, CoursePublished, CourseService, CourseStatus, CourseUnpublished, EnrollmentCounts,
    EnrollmentCountsError, EnrollmentTally, LessonKind,
};
use enrollment::{
    EnrollmentCompleted, EnrollmentNotifications, EnrollmentService, GenerateCertificate, UserDropped, UserEnrolled,
    UserReenrolled,
};
use shared_kernel::notifications::{
    MailTransport, MemoryTransport, NotificationSender, SendMail, notification_queue_options,
};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::{EventFake, NotificationFake, TestDb};
use shared_kernel::users::create_user;
use shared_kernel::{
    AuditLog, AuditQuery, CourseId, EnrollmentId, EventBus, InProcessHub, LogDomainEvent, ManualClock, Registry, UserId,
};

/// The inactivity reminder's delay in these tests (as app's default).
pub(crate) const REMIND_AFTER: std::time::Duration = enrollment::DEFAULT_REMINDER_AFTER;

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

pub(crate) struct Harness {
    pub(crate) db: TestDb,
    pub(crate) bus: EventBus,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) fake: Arc<EventFake>,
    pub(crate) hub: Arc<InProcessHub>,
    pub(crate) courses: CourseService,
    pub(crate) enrollments: EnrollmentService,
    pub(crate) instructor: UserId,
    pub(crate) learner: UserId,
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

pub(crate) fn migrators() -> Vec<shared_kernel::sqlx::migrate::Migrator> {
    vec![course::migrator(), enrollment::migrator()]
}

impl Harness {
    pub(crate) async fn new(notifier: Arc<dyn NotificationSender>, mail: Arc<dyn MailTransport>) -> Self {
        Self::on(TestDb::new(migrators()).await, notifier, mail).await
    }

    pub(crate) async fn on(db: TestDb, notifier: Arc<dyn NotificationSender>, mail: Arc<dyn MailTransport>) -> Self {
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

    pub(crate) async fn conn(&self) -> shared_kernel::sqlx::pool::PoolConnection<shared_kernel::sqlx::Any> {
        self.bus.db().writer().acquire().await.unwrap()
    }

    pub(crate) async fn course(&self, status: CourseStatus) -> CourseId {
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

    pub(crate) async fn enrolled(&self) -> (CourseId, EnrollmentId) {
        let course = self.course(CourseStatus::Published).await;
        let enrollment = self
            .enrollments
            .enroll(self.learner, self.learner, course)
            .await
            .unwrap();
        (course, enrollment)
    }

    pub(crate) async fn completed(&self) -> EnrollmentId {
        let (_, enrollment) = self.enrolled().await;
        self.enrollments.complete(self.learner, enrollment, 5400).await.unwrap();
        enrollment
    }

    pub(crate) async fn find(&self, id: EnrollmentId) -> enrollment::Enrollment {
        enrollment::find(&mut *self.conn().await, id).await.unwrap().unwrap()
    }

    pub(crate) async fn count(&self, table: &'static str) -> i64 {
        let sql = match table {
            "enrollments" => "SELECT COUNT(*) FROM enrollments",
            "certificates" => "SELECT COUNT(*) FROM certificates",
            _ => unreachable!("a table of this context"),
        };
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *self.conn().await).await.unwrap();
        n
    }

    pub(crate) async fn audit_of(&self, id: EnrollmentId) -> Vec<shared_kernel::AuditEntry> {
        AuditLog::new(self.bus.db().clone())
            .query(&AuditQuery::new().aggregate("enrollment", Some(id.to_string())))
            .await
            .unwrap()
    }
}

pub(crate) async fn harness() -> (Harness, Arc<NotificationFake>) {
    let notifications = NotificationFake::new();
    (
        Harness::new(notifications.clone(), Arc::new(MemoryTransport::default())).await,
        notifications,
    )
}
