//! The learning-path context against a real (temporary) SQLite database, through its public API,
//! together with the real course and enrollment contexts: building and publishing paths,
//! enrolling (into the first course only), advancing as courses are completed (drained by a real
//! worker), completing and dropping paths, the notifications, and every refusal leaving no row
//! and no event.

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
    CourseUnlockedInPath, InvalidTransition, LearningPathService, PathCompleted, PathDropped, PathEnrollment,
    PathEnrollmentCreated, PathEnrollmentStatus, PathError, PathStatus, SendPathCompletionCongratulations,
    SendPathEnrollmentWelcome, UpdatePathProgressOnCourseCompletion,
};
use shared_kernel::notifications::NotificationSender;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::testing::{EventFake, NotificationFake, TestDb, assert_listening, drain};
use shared_kernel::users::create_user;
use shared_kernel::{
    AuditLog, AuditQuery, CourseId, EnrollmentId, EventBus, InProcessHub, JobContext, LearningPathId, LogDomainEvent,
    ManualClock, PathEnrollmentId, Queue, QueuedListener, Registry, UserId, to_db_text,
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

fn registry(notifier: Arc<dyn NotificationSender>) -> Registry {
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

struct Harness {
    db: TestDb,
    bus: EventBus,
    fake: Arc<EventFake>,
    hub: Arc<InProcessHub>,
    notifications: Arc<NotificationFake>,
    courses: CourseService,
    enrollments: EnrollmentService,
    paths: LearningPathService,
    instructor: UserId,
    learner: UserId,
}

fn migrators() -> Vec<sqlx::migrate::Migrator> {
    vec![course::migrator(), enrollment::migrator(), learning_path::migrator()]
}

impl Harness {
    async fn new() -> Self {
        Self::on(TestDb::new(migrators()).await).await
    }

    async fn on(db: TestDb) -> Self {
        Self::on_with(db, None).await
    }

    /// On a clock the test moves (to let a retried job's backoff pass).
    async fn with_clock(clock: Arc<ManualClock>) -> Self {
        Self::on_with(TestDb::new(migrators()).await, Some(clock)).await
    }

    async fn on_with(db: TestDb, clock: Option<Arc<ManualClock>>) -> Self {
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
    async fn cleanup(self) {
        let Self { db, bus, .. } = self;
        drop(bus);
        db.cleanup().await;
    }

    async fn conn(&self) -> shared_kernel::sqlx::pool::PoolConnection<shared_kernel::sqlx::Any> {
        self.bus.db().writer().acquire().await.unwrap()
    }

    async fn course(&self, title: &str, status: CourseStatus) -> CourseId {
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
    async fn published_courses(&self, n: usize) -> Vec<CourseId> {
        let mut courses = Vec::with_capacity(n);
        for i in 1..=n {
            courses.push(self.course(&format!("Kursus {i}"), CourseStatus::Published).await);
        }
        courses
    }

    /// A published path of `courses`, in that order.
    async fn path_of(&self, courses: &[CourseId]) -> LearningPathId {
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

    async fn path_enrollment(&self, id: PathEnrollmentId) -> PathEnrollment {
        learning_path::find_enrollment(&mut *self.conn().await, id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn active_in(&self, course: CourseId) -> Option<EnrollmentId> {
        enrollment::find_active(&mut *self.conn().await, self.learner, course)
            .await
            .unwrap()
            .map(|e| e.id())
    }

    /// Completes the learner's active enrollment in `course` (as `progress` would at 100%).
    async fn complete_course(&self, course: CourseId) {
        let id = self
            .active_in(course)
            .await
            .expect("an active enrollment in the course");
        self.enrollments.complete(self.learner, id, 600).await.unwrap();
    }

    async fn count_enrollments(&self, course: CourseId) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM enrollments WHERE user_id = $1 AND course_id = $2")
            .bind(self.learner.to_string())
            .bind(course.to_string())
            .fetch_one(&mut *self.conn().await)
            .await
            .unwrap();
        n
    }

    async fn count_path_enrollments(&self) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM path_enrollments")
            .fetch_one(&mut *self.conn().await)
            .await
            .unwrap();
        n
    }

    fn unlocked(&self) -> Vec<CourseId> {
        self.fake
            .dispatched::<CourseUnlockedInPath>()
            .iter()
            .map(|e| e.event().course_id)
            .collect()
    }

    async fn audit_of(&self, id: PathEnrollmentId) -> Vec<String> {
        AuditLog::new(self.bus.db().clone())
            .query(&AuditQuery::new().aggregate("learning_path_enrollment", Some(id.to_string())))
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.event_name)
            .collect()
    }
}

// ---- building a path -----------------------------------------------------------------------

#[tokio::test]
async fn a_path_keeps_its_courses_in_the_order_they_were_added_and_publishes() {
    let h = Harness::new().await;
    let courses = h.published_courses(3).await;
    let path = h
        .paths
        .create(h.instructor, "  Jalur Rust ", "Dari dasar")
        .await
        .unwrap();
    for course in [courses[2], courses[0], courses[1]] {
        h.paths.add_course(h.instructor, path, course).await.unwrap();
    }
    h.paths.remove_course(h.instructor, path, courses[0]).await.unwrap();

    h.paths.publish(h.instructor, path).await.unwrap();

    let found = learning_path::find(&mut *h.conn().await, path).await.unwrap().unwrap();
    assert_eq!(found.title(), "Jalur Rust");
    assert_eq!(found.courses(), [courses[2], courses[1]]);
    assert_eq!(found.status(), PathStatus::Published);
    assert_eq!(found.owner_id(), h.instructor);
    assert!(found.published_at().is_some());
}

#[tokio::test]
async fn adding_an_unpublished_course_is_refused_and_leaves_the_path_as_it_was() {
    let h = Harness::new().await;
    let draft = h.course("Draf", CourseStatus::Draft).await;
    let archived = h.course("Arsip", CourseStatus::Archived).await;
    let path = h.paths.create(h.instructor, "Jalur Rust", "").await.unwrap();
    h.fake.clear();

    let err = h.paths.add_course(h.instructor, path, draft).await.unwrap_err();
    assert!(matches!(
        err,
        PathError::CourseNotPublished { course, status: CourseStatus::Draft } if course == draft
    ));
    let err = h.paths.add_course(h.instructor, path, archived).await.unwrap_err();
    assert!(matches!(
        err,
        PathError::CourseNotPublished {
            status: CourseStatus::Archived,
            ..
        }
    ));
    let err = h
        .paths
        .add_course(h.instructor, path, CourseId::new())
        .await
        .unwrap_err();
    assert!(matches!(err, PathError::CourseNotFound(_)));

    let found = learning_path::find(&mut *h.conn().await, path).await.unwrap().unwrap();
    assert!(found.courses().is_empty());
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn a_course_appears_once_per_path() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.paths.create(h.instructor, "Jalur Rust", "").await.unwrap();
    h.paths.add_course(h.instructor, path, courses[0]).await.unwrap();

    let err = h.paths.add_course(h.instructor, path, courses[0]).await.unwrap_err();

    assert!(matches!(err, PathError::DuplicateCourse { path: p, course } if p == path && course == courses[0]));
    let found = learning_path::find(&mut *h.conn().await, path).await.unwrap().unwrap();
    assert_eq!(found.courses(), [courses[0]]);
}

#[tokio::test]
async fn publishing_an_empty_path_is_refused_and_it_stays_a_draft() {
    let h = Harness::new().await;
    let path = h.paths.create(h.instructor, "Jalur Kosong", "").await.unwrap();

    let err = h.paths.publish(h.instructor, path).await.unwrap_err();

    assert!(matches!(err, PathError::EmptyPath(p) if p == path));
    let found = learning_path::find(&mut *h.conn().await, path).await.unwrap().unwrap();
    assert_eq!(found.status(), PathStatus::Draft);
}

#[tokio::test]
async fn a_path_whose_course_was_unpublished_meanwhile_cannot_be_published() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.paths.create(h.instructor, "Jalur Rust", "").await.unwrap();
    for course in &courses {
        h.paths.add_course(h.instructor, path, *course).await.unwrap();
    }
    h.courses.unpublish(h.instructor, courses[1]).await.unwrap();

    let err = h.paths.publish(h.instructor, path).await.unwrap_err();

    assert!(matches!(err, PathError::CourseNotPublished { course, .. } if course == courses[1]));
}

#[tokio::test]
async fn a_published_paths_course_list_is_frozen_and_only_its_owner_changes_a_path() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses[..1]).await;

    let err = h.paths.add_course(h.instructor, path, courses[1]).await.unwrap_err();
    assert!(matches!(err, PathError::CourseListFrozen(p) if p == path));
    let err = h.paths.remove_course(h.instructor, path, courses[0]).await.unwrap_err();
    assert!(matches!(err, PathError::CourseListFrozen(_)));
    let err = h.paths.publish(h.instructor, path).await.unwrap_err();
    assert!(matches!(err, PathError::AlreadyPublished(_)));

    let draft = h.paths.create(h.instructor, "Jalur Lain", "").await.unwrap();
    let err = h.paths.add_course(h.learner, draft, courses[0]).await.unwrap_err();
    assert!(matches!(err, PathError::NotOwner { actor, .. } if actor == h.learner));
    let found = learning_path::find(&mut *h.conn().await, path).await.unwrap().unwrap();
    assert_eq!(found.courses(), [courses[0]]);
}

#[tokio::test]
async fn a_blank_title_is_refused_before_anything_is_written() {
    let h = Harness::new().await;
    let err = h.paths.create(h.instructor, "   ", "").await.unwrap_err();
    assert!(matches!(err, PathError::InvalidTitle { .. }));
}

// ---- enrolling -----------------------------------------------------------------------------

#[tokio::test]
async fn enrolling_in_a_path_enrolls_in_its_first_course_only() {
    let h = Harness::new().await;
    let courses = h.published_courses(3).await;
    let path = h.path_of(&courses).await;
    h.fake.clear();
    let mut learners_channel = h.hub.subscribe(&format!("private-user.{}", h.learner));

    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();

    let enrolled = h.path_enrollment(id).await;
    assert_eq!(enrolled.status(), PathEnrollmentStatus::Active);
    assert_eq!(enrolled.current_course(), Some(courses[0]));
    assert_eq!(enrolled.position(), 0);
    assert_eq!((enrolled.path_id(), enrolled.user_id()), (path, h.learner));
    assert!(h.active_in(courses[0]).await.is_some());
    assert!(h.active_in(courses[1]).await.is_none());
    assert!(h.active_in(courses[2]).await.is_none());
    h.fake.assert_dispatched::<PathEnrollmentCreated>(|e| {
        e.path_enrollment_id == id && e.path_id == path && e.path_title == "Jalur Rust" && e.user_id == h.learner
    });
    assert_eq!(h.unlocked(), [courses[0]]);
    h.fake
        .assert_dispatched::<CourseUnlockedInPath>(|e| e.course_title == "Kursus 1");
    h.fake
        .assert_dispatched::<UserEnrolled>(|e| e.course_id == courses[0] && e.invited_by.is_none());
    h.fake.assert_dispatched_times::<UserEnrolled>(1);
    assert_eq!(
        h.audit_of(id).await,
        ["learning_path.enrollment.created", "learning_path.course_unlocked"]
    );
    assert_eq!(
        learners_channel.try_recv().unwrap().event,
        "learning_path.enrollment.created"
    );
}

#[tokio::test]
async fn an_instructor_enrolling_a_learner_in_a_path_is_the_first_courses_inviter() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.path_of(&courses).await;

    h.paths.enroll(h.instructor, h.learner, path).await.unwrap();

    h.fake
        .assert_dispatched::<UserEnrolled>(|e| e.user_id == h.learner && e.invited_by == Some(h.instructor));
}

#[tokio::test]
async fn enrolling_twice_is_already_enrolled_with_no_event_and_no_row() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.fake.clear();

    let err = h.paths.enroll(h.learner, h.learner, path).await.unwrap_err();

    assert!(matches!(err, PathError::AlreadyEnrolled { user, path: p } if user == h.learner && p == path));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count_path_enrollments().await, 1);
    assert_eq!(h.count_enrollments(courses[0]).await, 1);
}

#[tokio::test]
async fn enrolling_in_a_draft_path_is_refused_and_records_nothing() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.paths.create(h.instructor, "Jalur Rust", "").await.unwrap();
    h.paths.add_course(h.instructor, path, courses[0]).await.unwrap();
    h.fake.clear();

    let err = h.paths.enroll(h.learner, h.learner, path).await.unwrap_err();

    assert!(matches!(
        err,
        PathError::PathNotPublished { path: p, status: PathStatus::Draft } if p == path
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count_path_enrollments().await, 0);
    assert_eq!(h.count_enrollments(courses[0]).await, 0);
    drain(&h.bus).await;
    h.notifications.assert_nothing_sent();
}

#[tokio::test]
async fn a_first_course_unpublished_since_the_path_was_published_refuses_the_enrollment_whole() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    h.courses.unpublish(h.instructor, courses[0]).await.unwrap();
    h.fake.clear();

    let err = h.paths.enroll(h.learner, h.learner, path).await.unwrap_err();

    assert!(matches!(
        err,
        PathError::CourseNotPublished { course, status: CourseStatus::Draft } if course == courses[0]
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count_path_enrollments().await, 0);
}

#[tokio::test]
async fn enrolling_someone_unknown_or_in_an_unknown_path_is_refused() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.path_of(&courses).await;
    h.fake.clear();

    let stranger = UserId::new();
    let err = h.paths.enroll(h.instructor, stranger, path).await.unwrap_err();
    assert!(matches!(err, PathError::UserNotFound(u) if u == stranger));
    let err = h
        .paths
        .enroll(h.learner, h.learner, LearningPathId::new())
        .await
        .unwrap_err();
    assert!(matches!(err, PathError::NotFound(_)));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.count_path_enrollments().await, 0);
}

#[tokio::test]
async fn an_active_enrollment_in_the_first_course_is_used_not_duplicated() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    let existing = h.enrollments.enroll(h.learner, h.learner, courses[0]).await.unwrap();
    h.fake.clear();

    h.paths.enroll(h.learner, h.learner, path).await.unwrap();

    assert_eq!(h.count_enrollments(courses[0]).await, 1);
    assert_eq!(h.active_in(courses[0]).await, Some(existing));
    assert_eq!(h.unlocked(), [courses[0]]);
    h.fake.assert_not_dispatched::<UserEnrolled>();
}

#[tokio::test]
async fn a_course_completed_before_enrolling_is_passed_straight_on_to_the_next() {
    let h = Harness::new().await;
    let courses = h.published_courses(3).await;
    let path = h.path_of(&courses).await;
    h.enrollments.enroll(h.learner, h.learner, courses[0]).await.unwrap();
    h.complete_course(courses[0]).await;
    drain(&h.bus).await;
    h.fake.clear();

    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();

    let enrolled = h.path_enrollment(id).await;
    assert_eq!(enrolled.current_course(), Some(courses[1]));
    assert_eq!(enrolled.position(), 1);
    assert_eq!(h.unlocked(), [courses[0], courses[1]]);
    assert_eq!(h.count_enrollments(courses[0]).await, 1);
    assert!(h.active_in(courses[1]).await.is_some());
    assert!(h.active_in(courses[2]).await.is_none());
}

#[tokio::test]
async fn a_path_whose_every_course_is_already_completed_completes_on_enrolling() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    for course in &courses {
        h.enrollments.enroll(h.learner, h.learner, *course).await.unwrap();
        h.complete_course(*course).await;
    }
    drain(&h.bus).await;
    h.fake.clear();

    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();

    let enrolled = h.path_enrollment(id).await;
    assert_eq!(enrolled.status(), PathEnrollmentStatus::Completed);
    assert_eq!(enrolled.current_course(), None);
    h.fake.assert_dispatched_times::<PathCompleted>(1);
    h.fake.assert_not_dispatched::<UserEnrolled>();
    assert_eq!(
        h.audit_of(id).await,
        [
            "learning_path.enrollment.created",
            "learning_path.course_unlocked",
            "learning_path.course_unlocked",
            "learning_path.completed"
        ]
    );
}

// ---- advancing -----------------------------------------------------------------------------

#[tokio::test]
async fn each_course_unlocks_only_after_the_previous_one_is_completed_in_order() {
    let h = Harness::new().await;
    let courses = h.published_courses(3).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    drain(&h.bus).await;
    assert!(h.active_in(courses[1]).await.is_none());

    h.complete_course(courses[0]).await;
    // The next course opens when the queued listener runs, not inside the completion.
    assert!(h.active_in(courses[1]).await.is_none());
    drain(&h.bus).await;

    assert!(h.active_in(courses[1]).await.is_some());
    assert!(h.active_in(courses[2]).await.is_none());
    assert_eq!(h.path_enrollment(id).await.current_course(), Some(courses[1]));

    h.complete_course(courses[1]).await;
    drain(&h.bus).await;

    assert!(h.active_in(courses[2]).await.is_some());
    let enrolled = h.path_enrollment(id).await;
    assert_eq!((enrolled.position(), enrolled.current_course()), (2, Some(courses[2])));
    assert_eq!(enrolled.status(), PathEnrollmentStatus::Active);
    assert_eq!(h.unlocked(), courses);
    h.fake.assert_not_dispatched::<PathCompleted>();
}

#[tokio::test]
async fn completing_a_course_outside_the_current_one_does_not_advance_the_path() {
    let h = Harness::new().await;
    let courses = h.published_courses(3).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.enrollments.enroll(h.learner, h.learner, courses[2]).await.unwrap();

    h.complete_course(courses[2]).await;
    drain(&h.bus).await;

    let enrolled = h.path_enrollment(id).await;
    assert_eq!(enrolled.current_course(), Some(courses[0]));
    assert_eq!(h.unlocked(), [courses[0]]);
}

#[tokio::test]
async fn completing_the_last_course_completes_the_path_exactly_once() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.complete_course(courses[0]).await;
    drain(&h.bus).await;

    h.complete_course(courses[1]).await;
    drain(&h.bus).await;
    drain(&h.bus).await;

    let enrolled = h.path_enrollment(id).await;
    assert_eq!(enrolled.status(), PathEnrollmentStatus::Completed);
    assert_eq!(enrolled.current_course(), None);
    assert!(enrolled.completed_at().is_some());
    h.fake.assert_dispatched_times::<PathCompleted>(1);
    h.fake.assert_dispatched::<PathCompleted>(|e| {
        e.path_enrollment_id == id
            && e.path_title == "Jalur Rust"
            && e.user_id == h.learner
            // Stored timestamps keep microseconds; compare in their stored form.
            && Some(to_db_text(e.completed_at)) == enrolled.completed_at().map(to_db_text)
    });
    assert_eq!(
        h.audit_of(id).await,
        [
            "learning_path.enrollment.created",
            "learning_path.course_unlocked",
            "learning_path.course_unlocked",
            "learning_path.completed"
        ]
    );
}

#[tokio::test]
async fn the_progress_job_running_twice_for_one_completion_changes_nothing_the_second_time() {
    let h = Harness::new().await;
    let courses = h.published_courses(3).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.complete_course(courses[0]).await;
    drain(&h.bus).await;
    let before = h.path_enrollment(id).await;
    let unlocked_before = h.unlocked();
    let event = h.fake.dispatched::<EnrollmentCompleted>().pop().unwrap();

    let mut job = JobContext::standalone(&h.bus, UpdatePathProgressOnCourseCompletion::NAME, event.meta());
    UpdatePathProgressOnCourseCompletion::new()
        .handle(&event, &mut job)
        .await
        .unwrap();
    job.finish().await.unwrap();

    assert_eq!(h.path_enrollment(id).await, before);
    assert_eq!(h.unlocked(), unlocked_before);
    assert_eq!(h.count_enrollments(courses[1]).await, 1);
    assert!(h.active_in(courses[2]).await.is_none());
}

#[tokio::test]
async fn an_active_enrollment_in_the_next_course_is_used_not_enrolled_twice() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    let existing = h.enrollments.enroll(h.learner, h.learner, courses[1]).await.unwrap();

    h.complete_course(courses[0]).await;
    drain(&h.bus).await;

    assert_eq!(h.count_enrollments(courses[1]).await, 1);
    assert_eq!(h.active_in(courses[1]).await, Some(existing));
    assert_eq!(h.unlocked(), courses);
}

#[tokio::test]
async fn a_next_course_unpublished_meanwhile_leaves_the_path_untouched_until_the_retried_job_succeeds() {
    let clock = Arc::new(ManualClock::default());
    let h = Harness::with_clock(clock.clone()).await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.courses.unpublish(h.instructor, courses[1]).await.unwrap();

    h.complete_course(courses[0]).await;
    drain(&h.bus).await;

    // The failed job rolled back whole: no step taken, no event, no enrollment; it waits to retry.
    assert_eq!(h.path_enrollment(id).await.current_course(), Some(courses[0]));
    assert_eq!(h.unlocked(), [courses[0]]);
    assert_eq!(h.count_enrollments(courses[1]).await, 0);
    assert!(Queue::new(h.bus.clone()).pending_count().await.unwrap() > 0);

    h.courses.publish(h.instructor, courses[1]).await.unwrap();
    clock.advance(chrono::Duration::minutes(10));
    drain(&h.bus).await;

    assert_eq!(h.path_enrollment(id).await.current_course(), Some(courses[1]));
    assert_eq!(h.unlocked(), courses);
    assert!(h.active_in(courses[1]).await.is_some());
}

#[tokio::test]
async fn a_path_advances_every_active_path_enrollment_on_the_completed_course() {
    let h = Harness::new().await;
    let courses = h.published_courses(3).await;
    let first = h.path_of(&[courses[0], courses[1]]).await;
    let second = h.path_of(&[courses[0], courses[2]]).await;
    let a = h.paths.enroll(h.learner, h.learner, first).await.unwrap();
    let b = h.paths.enroll(h.learner, h.learner, second).await.unwrap();

    h.complete_course(courses[0]).await;
    drain(&h.bus).await;

    assert_eq!(h.path_enrollment(a).await.current_course(), Some(courses[1]));
    assert_eq!(h.path_enrollment(b).await.current_course(), Some(courses[2]));
    assert!(h.active_in(courses[1]).await.is_some());
    assert!(h.active_in(courses[2]).await.is_some());
}

// ---- dropping ------------------------------------------------------------------------------

#[tokio::test]
async fn dropping_a_path_records_path_dropped_and_leaves_the_course_enrollments() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.fake.clear();

    h.paths.drop_out(h.learner, id, Some("  terlalu sibuk ")).await.unwrap();

    let dropped = h.path_enrollment(id).await;
    assert_eq!(dropped.status(), PathEnrollmentStatus::Dropped);
    assert!(dropped.dropped_at().is_some());
    assert_eq!(dropped.drop_reason().map(|r| r.as_str()), Some("terlalu sibuk"));
    h.fake.assert_dispatched_times::<PathDropped>(1);
    h.fake.assert_dispatched::<PathDropped>(|e| {
        e.path_enrollment_id == id && e.path_id == path && e.reason.as_deref() == Some("terlalu sibuk")
    });
    assert!(h.active_in(courses[0]).await.is_some());
    h.fake.assert_not_dispatched::<UserDropped>();

    // Completing the course afterwards no longer moves the dropped path along.
    h.complete_course(courses[0]).await;
    drain(&h.bus).await;
    assert!(h.active_in(courses[1]).await.is_none());
    assert_eq!(h.path_enrollment(id).await.status(), PathEnrollmentStatus::Dropped);
}

#[tokio::test]
async fn dropping_twice_is_an_invalid_transition_recording_nothing() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.paths.drop_out(h.learner, id, None).await.unwrap();
    h.fake.clear();

    let err = h.paths.drop_out(h.learner, id, None).await.unwrap_err();

    assert!(matches!(
        err,
        PathError::InvalidTransition(InvalidTransition {
            from: PathEnrollmentStatus::Dropped,
            to: PathEnrollmentStatus::Dropped
        })
    ));
    h.fake.assert_nothing_dispatched();
    let err = h
        .paths
        .drop_out(h.learner, PathEnrollmentId::new(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, PathError::EnrollmentNotFound(_)));
}

#[tokio::test]
async fn a_completed_path_cannot_be_dropped() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.complete_course(courses[0]).await;
    drain(&h.bus).await;

    let err = h.paths.drop_out(h.learner, id, None).await.unwrap_err();

    assert!(matches!(
        err,
        PathError::InvalidTransition(InvalidTransition {
            from: PathEnrollmentStatus::Completed,
            ..
        })
    ));
}

#[tokio::test]
async fn after_dropping_the_learner_may_enroll_in_the_path_again_and_both_are_listed() {
    let h = Harness::new().await;
    let courses = h.published_courses(1).await;
    let path = h.path_of(&courses).await;
    let first = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.paths.drop_out(h.learner, first, None).await.unwrap();

    let second = h.paths.enroll(h.learner, h.learner, path).await.unwrap();

    let listed: Vec<(PathEnrollmentId, PathEnrollmentStatus)> =
        learning_path::enrollments_of(&mut *h.conn().await, h.learner)
            .await
            .unwrap()
            .iter()
            .map(|e| (e.id(), e.status()))
            .collect();
    assert_eq!(
        listed,
        [
            (first, PathEnrollmentStatus::Dropped),
            (second, PathEnrollmentStatus::Active)
        ]
    );
    // The course enrollment left by the first path enrollment is the one used.
    assert_eq!(h.count_enrollments(courses[0]).await, 1);
}

// ---- notifications and registration --------------------------------------------------------

#[tokio::test]
async fn the_learner_is_welcomed_and_congratulated_once_each() {
    let h = Harness::new().await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    h.notifications.assert_nothing_sent();

    drain(&h.bus).await;
    h.notifications.assert_sent_to(h.learner, "learning_path.welcome");
    h.notifications.assert_sent_times("learning_path.welcome", 1);
    h.notifications.assert_sent_times("learning_path.completed", 0);

    for course in &courses {
        h.complete_course(*course).await;
        drain(&h.bus).await;
    }
    drain(&h.bus).await;

    h.notifications.assert_sent_to(h.learner, "learning_path.completed");
    h.notifications.assert_sent_times("learning_path.completed", 1);
    h.notifications.assert_sent_times("learning_path.welcome", 1);
    // Each course of the path welcomed the learner once, through enrollment's own listener.
    h.notifications.assert_sent_times("enrollment.welcome", 2);
}

#[tokio::test]
async fn the_listeners_are_registered_on_the_catalogs_events() {
    let registry = registry(NotificationFake::new());
    assert_listening::<EnrollmentCompleted>(&registry, "UpdatePathProgressOnCourseCompletion");
    assert_listening::<PathEnrollmentCreated>(&registry, "SendPathEnrollmentWelcome");
    assert_listening::<PathCompleted>(&registry, "SendPathCompletionCongratulations");
    assert_eq!(UpdatePathProgressOnCourseCompletion::queue_options().queue(), "default");
    assert_eq!(SendPathEnrollmentWelcome::queue_options().queue(), "notifications");
    assert_eq!(
        SendPathCompletionCongratulations::queue_options().queue(),
        "notifications"
    );
}

// ---- PostgreSQL ----------------------------------------------------------------------------

#[tokio::test]
async fn the_whole_path_flow_runs_on_postgres_with_the_same_code() {
    let Some(db) = TestDb::postgres("the_whole_path_flow_runs_on_postgres_with_the_same_code", migrators()).await
    else {
        return;
    };
    let h = Harness::on(db).await;
    let courses = h.published_courses(2).await;
    let path = h.path_of(&courses).await;
    let id = h.paths.enroll(h.learner, h.learner, path).await.unwrap();
    let err = h.paths.enroll(h.learner, h.learner, path).await.unwrap_err();
    assert!(matches!(err, PathError::AlreadyEnrolled { .. }));

    for course in &courses {
        h.complete_course(*course).await;
        drain(&h.bus).await;
    }
    let event = h.fake.dispatched::<EnrollmentCompleted>().pop().unwrap();
    let mut job = JobContext::standalone(&h.bus, UpdatePathProgressOnCourseCompletion::NAME, event.meta());
    UpdatePathProgressOnCourseCompletion::new()
        .handle(&event, &mut job)
        .await
        .unwrap();
    job.finish().await.unwrap();

    let enrolled = h.path_enrollment(id).await;
    assert_eq!(enrolled.status(), PathEnrollmentStatus::Completed);
    assert_eq!(h.unlocked(), courses);
    h.fake.assert_dispatched_times::<PathCompleted>(1);
    h.notifications.assert_sent_times("learning_path.completed", 1);
    assert_eq!(h.count_enrollments(courses[1]).await, 1);
    h.cleanup().await;
}
