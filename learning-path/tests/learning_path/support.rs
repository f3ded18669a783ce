//! What every test here shares: the [`Harness`] (the real course, enrollment and learning-path
//! contexts on a temporary database, with an instructor and a learner), the [`registry`] of their
//! events and listeners, and helpers to build paths and read what the contexts recorded.

use std::sync::Arc;

use async_trait::async_trait;
use course::{
    CourseArchived, CoursePublished, CourseService, CourseStatus, CourseUnpublished, EnrollmentCounts,
    EnrollmentCountsError, EnrollmentTally, LessonKind,
};
use enrollment::{
    EnrollmentCompleted, EnrollmentService, SendCompletionCongratulations, SendWelcomeNotification, UserDropped,
    UserEnrolled, UserReenrolled,
};
use learning_path::{
    CourseUnlockedInPath, LearningPathService, PathCompleted, PathDropped, PathEnrollment, PathEnrollmentCreated,
    SendPathCompletionCongratulations, SendPathEnrollmentWelcome, UpdatePathProgressOnCourseCompletion,
};
use shared_kernel::notifications::NotificationSender;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::{EventFake, NotificationFake, TestDb};
use shared_kernel::users::create_user;
use shared_kernel::{
    AuditLog, AuditQuery, CourseId, EnrollmentId, EventBus, InProcessHub, LearningPathId, LogDomainEvent, ManualClock,
    PathEnrollmentId, Registry, UserId,
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

pub(crate) fn registry(notifier: Arc<dyn NotificationSender>) -> Registry {
    Registry::builder()
        .listen_all_sync(LogDomainEvent, &[])
        .event::<CoursePublished>()
        .event::<CourseUnpublished>()
        .event::<CourseArchived>()
        .listen_queued::<UserEnrolled, _>(
            SendWelcomeNotification::new(notifier.clone()),
            SendWelcomeNotification::queue_options(),
        )
        .event::<UserReenrolled>()
        .event::<UserDropped>()
        .listen_queued::<EnrollmentCompleted, _>(
            SendCompletionCongratulations::new(notifier.clone()),
            SendCompletionCongratulations::queue_options(),
        )
        .listen_queued::<EnrollmentCompleted, _>(
            UpdatePathProgressOnCourseCompletion::new(),
            UpdatePathProgressOnCourseCompletion::queue_options(),
        )
        .listen_queued::<PathEnrollmentCreated, _>(
            SendPathEnrollmentWelcome::new(notifier.clone()),
            SendPathEnrollmentWelcome::queue_options(),
        )
        .event::<CourseUnlockedInPath>()
        .listen_queued::<PathCompleted, _>(
            SendPathCompletionCongratulations::new(notifier),
            SendPathCompletionCongratulations::queue_options(),
        )
        .event::<PathDropped>()
        .build()
        .expect("the learning-path registry is valid")
}

pub(crate) struct Harness {
    pub(crate) db: TestDb,
    pub(crate) bus: EventBus,
    pub(crate) fake: Arc<EventFake>,
    pub(crate) hub: Arc<InProcessHub>,
    pub(crate) notifications: Arc<NotificationFake>,
    pub(crate) courses: CourseService,
    pub(crate) enrollments: EnrollmentService,
    pub(crate) paths: LearningPathService,
    pub(crate) instructor: UserId,
    pub(crate) learner: UserId,
}

pub(crate) fn migrators() -> Vec<sqlx::migrate::Migrator> {
    vec![course::migrator(), enrollment::migrator(), learning_path::migrator()]
}

impl Harness {
    pub(crate) async fn new() -> Self {
        Self::on(TestDb::new(migrators()).await).await
    }

    pub(crate) async fn on(db: TestDb) -> Self {
        Self::on_with(db, None).await
    }

    /// On a clock the test moves (to let a retried job's backoff pass).
    pub(crate) async fn with_clock(clock: Arc<ManualClock>) -> Self {
        Self::on_with(TestDb::new(migrators()).await, Some(clock)).await
    }

    pub(crate) async fn on_with(db: TestDb, clock: Option<Arc<ManualClock>>) -> Self {
        let notifications = NotificationFake::new();
        let fake = EventFake::new();
        let hub = Arc::new(InProcessHub::default());
        let mut builder = EventBus::builder(db.db().clone(), Arc::new(registry(notifications.clone())))
            .observer(fake.clone())
            .broadcaster(hub.clone());
        if let Some(clock) = clock {
            builder = builder.clock(clock);
        }
        let bus = builder.build();
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
            paths: LearningPathService::new(bus.clone()),
            db,
            bus,
            fake,
            hub,
            notifications,
            instructor,
            learner,
        }
    }

    /// Closes the database, dropping it when it is a PostgreSQL one.
    pub(crate) async fn cleanup(self) {
        let Self { db, bus, .. } = self;
        drop(bus);
        db.cleanup().await;
    }

    pub(crate) async fn conn(&self) -> shared_kernel::sqlx::pool::PoolConnection<shared_kernel::sqlx::Any> {
        self.bus.db().writer().acquire().await.unwrap()
    }

    pub(crate) async fn course(&self, title: &str, status: CourseStatus) -> CourseId {
        let id = self.courses.create(self.instructor, title, "Kursus").await.unwrap();
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

    /// `n` published courses, "Kursus 1" to "Kursus n".
    pub(crate) async fn published_courses(&self, n: usize) -> Vec<CourseId> {
        let mut courses = Vec::with_capacity(n);
        for i in 1..=n {
            courses.push(self.course(&format!("Kursus {i}"), CourseStatus::Published).await);
        }
        courses
    }

    /// A published path of `courses`, in that order.
    pub(crate) async fn path_of(&self, courses: &[CourseId]) -> LearningPathId {
        let path = self
            .paths
            .create(self.instructor, "Jalur Rust", "Dari dasar")
            .await
            .unwrap();
        for course in courses {
            self.paths.add_course(self.instructor, path, *course).await.unwrap();
        }
        self.paths.publish(self.instructor, path).await.unwrap();
        path
    }

    pub(crate) async fn path_enrollment(&self, id: PathEnrollmentId) -> PathEnrollment {
        learning_path::find_enrollment(&mut *self.conn().await, id)
            .await
            .unwrap()
            .unwrap()
    }

    pub(crate) async fn active_in(&self, course: CourseId) -> Option<EnrollmentId> {
        enrollment::find_active(&mut *self.conn().await, self.learner, course)
            .await
            .unwrap()
            .map(|e| e.id())
    }

    /// Completes the learner's active enrollment in `course` (as `progress` would at 100%).
    pub(crate) async fn complete_course(&self, course: CourseId) {
        let id = self
            .active_in(course)
            .await
            .expect("an active enrollment in the course");
        self.enrollments.complete(self.learner, id, 600).await.unwrap();
    }

    pub(crate) async fn count_enrollments(&self, course: CourseId) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM enrollments WHERE user_id = $1 AND course_id = $2")
            .bind(self.learner.to_string())
            .bind(course.to_string())
            .fetch_one(&mut *self.conn().await)
            .await
            .unwrap();
        n
    }

    pub(crate) async fn count_path_enrollments(&self) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM path_enrollments")
            .fetch_one(&mut *self.conn().await)
            .await
            .unwrap();
        n
    }

    pub(crate) fn unlocked(&self) -> Vec<CourseId> {
        self.fake
            .dispatched::<CourseUnlockedInPath>()
            .iter()
            .map(|e| e.event().course_id)
            .collect()
    }

    pub(crate) async fn audit_of(&self, id: PathEnrollmentId) -> Vec<String> {
        AuditLog::new(self.bus.db().clone())
            .query(&AuditQuery::new().aggregate("learning_path_enrollment", Some(id.to_string())))
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.event_name)
            .collect()
    }
}
