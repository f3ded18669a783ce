//! What every test here shares: the [`Harness`] (an instructor and a learner on a temporary
//! database, with published courses and the learner's [`Enrolled`] enrollment in them).

use std::sync::Arc;

use assessment::AssessmentGraded;
use async_trait::async_trait;
use course::{
    CourseArchived, CoursePublished, CourseService, CourseUnpublished, EnrollmentCounts, EnrollmentCountsError,
    EnrollmentTally, LessonKind,
};
use enrollment::{
    EnrollmentCompleted, EnrollmentService, GenerateCertificate, UserDropped, UserEnrolled, UserReenrolled,
};
use progress::{
    CompleteLessonOnPassedAssessment, CourseProgressTracker, LessonCompleted, ProgressService, ProgressTracking,
    ProgressUpdated, RecalculateCourseProgress,
};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::{EventFake, TestDb};
use shared_kernel::users::create_user;
use shared_kernel::{
    AuditLog, AuditQuery, CourseId, DomainEvent, EnrollmentId, EventBus, InProcessHub, LessonId, LogDomainEvent,
    Registry, UserId,
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

pub(crate) struct Harness {
    pub(crate) _db: TestDb,
    pub(crate) bus: EventBus,
    pub(crate) fake: Arc<EventFake>,
    pub(crate) hub: Arc<InProcessHub>,
    pub(crate) courses: CourseService,
    pub(crate) enrollments: EnrollmentService,
    pub(crate) progress: ProgressService,
    pub(crate) instructor: UserId,
    pub(crate) learner: UserId,
}

/// A published course with its lessons, and the learner's active enrollment in it.
pub(crate) struct Enrolled {
    pub(crate) course: CourseId,
    pub(crate) lessons: Vec<LessonId>,
    pub(crate) enrollment: EnrollmentId,
}

impl Harness {
    pub(crate) async fn new() -> Self {
        Self::tracking_with(Arc::new(CourseProgressTracker::new())).await
    }

    pub(crate) async fn tracking_with(tracking: Arc<dyn ProgressTracking>) -> Self {
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

    pub(crate) async fn conn(&self) -> shared_kernel::sqlx::pool::PoolConnection<shared_kernel::sqlx::Any> {
        self.bus.db().writer().acquire().await.unwrap()
    }

    pub(crate) async fn published_course(&self, title: &str, lessons: &[&str]) -> (CourseId, Vec<LessonId>) {
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

    pub(crate) async fn enrolled(&self, lessons: &[&str]) -> Enrolled {
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

    pub(crate) async fn enrollment(&self, id: EnrollmentId) -> enrollment::Enrollment {
        enrollment::find(&mut *self.conn().await, id).await.unwrap().unwrap()
    }

    pub(crate) async fn lesson_progress(
        &self,
        enrollment: EnrollmentId,
        lesson: LessonId,
    ) -> Option<progress::LessonProgress> {
        progress::lesson_progress(&mut *self.conn().await, enrollment, lesson)
            .await
            .unwrap()
    }

    pub(crate) async fn progress_rows(&self) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM lesson_progress")
            .fetch_one(&mut *self.conn().await)
            .await
            .unwrap();
        n
    }

    pub(crate) async fn audit_of(&self, id: EnrollmentId) -> Vec<shared_kernel::AuditEntry> {
        AuditLog::new(self.bus.db().clone())
            .query(&AuditQuery::new().aggregate("enrollment", Some(id.to_string())))
            .await
            .unwrap()
    }
}
