//! The course context against a real (temporary) SQLite database, through its public API: the
//! commands, their events and audit rows, and every refusal leaving no row and no event.

use std::sync::Arc;

use course::{
    Course, CourseArchived, CourseError, CoursePublished, CourseService, CourseStatus, CourseUnpublished,
    EnrollmentCountsError, EnrollmentTally, InvalidTransition, LessonKind, MockEnrollmentCounts, TitleError,
};
use shared_kernel::testing::{EventFake, TestDb};
use shared_kernel::{
    AssessmentId, AuditLog, AuditQuery, CourseId, EventBus, InProcessHub, LessonId, LogDomainEvent, Registry, UserId,
};

struct Harness {
    _db: TestDb,
    bus: EventBus,
    fake: Arc<EventFake>,
    hub: Arc<InProcessHub>,
    instructor: UserId,
}

impl Harness {
    async fn new() -> Self {
        let db = TestDb::new(vec![course::migrator()]).await;
        let registry = Registry::builder()
            .listen_all_sync(LogDomainEvent, &[])
            .event::<CoursePublished>()
            .event::<CourseUnpublished>()
            .event::<CourseArchived>()
            .build()
            .expect("the course registry is valid");
        let fake = EventFake::new();
        let hub = Arc::new(InProcessHub::default());
        let bus = EventBus::builder(db.db().clone(), Arc::new(registry))
            .observer(fake.clone())
            .broadcaster(hub.clone())
            .build();
        Self {
            _db: db,
            bus,
            fake,
            hub,
            instructor: UserId::new(),
        }
    }

    /// Commands whose enrollment counts port must never be asked.
    fn courses(&self) -> CourseService {
        self.courses_counting(MockEnrollmentCounts::new())
    }

    fn courses_counting(&self, counts: MockEnrollmentCounts) -> CourseService {
        CourseService::new(self.bus.clone(), Arc::new(counts))
    }

    async fn find(&self, id: CourseId) -> Option<Course> {
        let mut conn = self.bus.db().writer().acquire().await.unwrap();
        course::find(&mut conn, id).await.unwrap()
    }

    async fn course_with_lessons(&self, titles: &[&str]) -> CourseId {
        let courses = self.courses();
        let id = courses
            .create(self.instructor, "Rust Dasar", "Belajar Rust dari nol")
            .await
            .unwrap();
        for title in titles {
            courses
                .add_lesson(self.instructor, id, title, LessonKind::Content)
                .await
                .unwrap();
        }
        id
    }

    async fn published_course(&self) -> CourseId {
        let id = self.course_with_lessons(&["Pengenalan"]).await;
        self.courses().publish(self.instructor, id).await.unwrap();
        id
    }

    async fn audit_of(&self, id: CourseId) -> Vec<shared_kernel::AuditEntry> {
        AuditLog::new(self.bus.db().clone())
            .query(&AuditQuery::new().aggregate("course", Some(id.to_string())))
            .await
            .unwrap()
    }
}

fn counting(tally: EnrollmentTally, course: CourseId) -> MockEnrollmentCounts {
    let mut counts = MockEnrollmentCounts::new();
    counts
        .expect_tally()
        .withf(move |_, asked| *asked == course)
        .times(1)
        .returning(move |_, _| Ok(tally));
    counts
}

// ---- creating and editing ------------------------------------------------------------------

#[tokio::test]
async fn a_new_course_is_a_draft_owned_by_its_creator_without_lessons() {
    let h = Harness::new().await;

    let id = h
        .courses()
        .create(h.instructor, "  Rust Dasar ", "Belajar Rust")
        .await
        .unwrap();

    let course = h.find(id).await.unwrap();
    assert_eq!(course.title().as_str(), "Rust Dasar");
    assert_eq!(course.status(), CourseStatus::Draft);
    assert_eq!(course.instructor_id(), h.instructor);
    assert!(course.lessons().is_empty());
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn a_course_with_a_blank_title_is_refused_and_nothing_is_stored() {
    let h = Harness::new().await;

    let err = h
        .courses()
        .create(h.instructor, "   ", "Belajar Rust")
        .await
        .unwrap_err();

    assert!(matches!(err, CourseError::InvalidTitle(TitleError::Empty)));
    let mut conn = h.bus.db().writer().acquire().await.unwrap();
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM courses")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(count, 0);
    h.fake.assert_nothing_dispatched();
}

#[tokio::test]
async fn a_title_of_more_than_two_hundred_characters_is_refused_on_update() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&[]).await;
    let before = h.find(id).await;

    let err = h
        .courses()
        .update_details(h.instructor, id, &"a".repeat(201), "")
        .await
        .unwrap_err();

    assert!(matches!(
        err,
        CourseError::InvalidTitle(TitleError::TooLong { actual: 201, .. })
    ));
    assert_eq!(h.find(id).await, before);
}

#[tokio::test]
async fn updating_details_replaces_title_and_description() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&[]).await;

    h.courses()
        .update_details(h.instructor, id, "Rust Lanjutan", "Ownership dan lifetime")
        .await
        .unwrap();

    let course = h.find(id).await.unwrap();
    assert_eq!(course.title().as_str(), "Rust Lanjutan");
    assert_eq!(course.description(), "Ownership dan lifetime");
}

#[tokio::test]
async fn a_command_on_an_unknown_course_is_not_found() {
    let h = Harness::new().await;
    let unknown = CourseId::new();

    let err = h.courses().publish(h.instructor, unknown).await.unwrap_err();

    assert!(matches!(err, CourseError::NotFound(id) if id == unknown));
    h.fake.assert_nothing_dispatched();
}

// ---- lessons -------------------------------------------------------------------------------

#[tokio::test]
async fn lessons_keep_the_order_they_were_added_in_and_their_kind() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&["Pengenalan"]).await;

    let quiz = h
        .courses()
        .add_lesson(h.instructor, id, "Kuis", LessonKind::assessment())
        .await
        .unwrap();

    let mut conn = h.bus.db().writer().acquire().await.unwrap();
    let lessons = course::lessons_of(&mut conn, id).await.unwrap();
    let titles: Vec<&str> = lessons.iter().map(|l| l.title().as_str()).collect();
    assert_eq!(titles, ["Pengenalan", "Kuis"]);
    assert_eq!(lessons[1].id(), quiz);
    assert_eq!(lessons[1].kind(), LessonKind::Assessment { assessment: None });
    assert_eq!(lessons[1].position(), 2);
}

#[tokio::test]
async fn an_assessment_is_linked_once_to_an_assessment_lesson_and_only_there() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&["Pengenalan"]).await;
    let quiz = h
        .courses()
        .add_lesson(h.instructor, id, "Kuis", LessonKind::assessment())
        .await
        .unwrap();
    let mut conn = h.bus.db().writer().acquire().await.unwrap();
    let content = course::lessons_of(&mut conn, id).await.unwrap()[0].id();
    let assessment = AssessmentId::new();

    let refused = course::link_assessment_in(&mut conn, id, content, assessment).await;
    assert!(
        matches!(refused, Err(CourseError::NotAnAssessmentLesson { lesson, .. }) if lesson == content),
        "{refused:?}"
    );
    let unknown = LessonId::new();
    let refused = course::link_assessment_in(&mut conn, id, unknown, assessment).await;
    assert!(
        matches!(refused, Err(CourseError::LessonNotFound { lesson, .. }) if lesson == unknown),
        "{refused:?}"
    );

    course::link_assessment_in(&mut conn, id, quiz, assessment)
        .await
        .unwrap();
    course::link_assessment_in(&mut conn, id, quiz, assessment)
        .await
        .expect("linking the same assessment again changes nothing");
    let other = AssessmentId::new();
    let refused = course::link_assessment_in(&mut conn, id, quiz, other).await;
    assert!(
        matches!(refused, Err(CourseError::AssessmentAlreadyLinked { linked, .. }) if linked == assessment),
        "{refused:?}"
    );
    let lessons = course::lessons_of(&mut conn, id).await.unwrap();
    assert_eq!(lessons[1].kind().assessment_id(), Some(assessment));
    assert_eq!(lessons[0].kind(), LessonKind::Content);
}

#[tokio::test]
async fn reordering_lessons_stores_the_new_order() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&["Satu", "Dua", "Tiga"]).await;
    let ids: Vec<LessonId> = h.find(id).await.unwrap().lessons().iter().map(|l| l.id()).collect();

    h.courses()
        .reorder_lessons(h.instructor, id, &[ids[2], ids[0], ids[1]])
        .await
        .unwrap();

    let course = h.find(id).await.unwrap();
    let titles: Vec<&str> = course.lessons().iter().map(|l| l.title().as_str()).collect();
    assert_eq!(titles, ["Tiga", "Satu", "Dua"]);
    let positions: Vec<u32> = course.lessons().iter().map(|l| l.position()).collect();
    assert_eq!(positions, [1, 2, 3]);
}

#[tokio::test]
async fn a_reordering_that_is_not_a_permutation_is_refused_and_changes_nothing() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&["Satu", "Dua"]).await;
    let before = h.find(id).await.unwrap();
    let first = before.lessons()[0].id();

    let err = h
        .courses()
        .reorder_lessons(h.instructor, id, &[first, first])
        .await
        .unwrap_err();

    assert!(matches!(err, CourseError::NotAPermutation { expected: 2, .. }));
    assert_eq!(h.find(id).await.unwrap(), before);
}

#[tokio::test]
async fn removing_a_lesson_moves_the_later_ones_up() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&["Satu", "Dua", "Tiga"]).await;
    let first = h.find(id).await.unwrap().lessons()[0].id();

    h.courses().remove_lesson(h.instructor, id, first).await.unwrap();

    let course = h.find(id).await.unwrap();
    let lessons: Vec<(&str, u32)> = course
        .lessons()
        .iter()
        .map(|l| (l.title().as_str(), l.position()))
        .collect();
    assert_eq!(lessons, [("Dua", 1), ("Tiga", 2)]);
}

#[tokio::test]
async fn the_only_lesson_of_a_published_course_cannot_be_removed() {
    let h = Harness::new().await;
    let id = h.published_course().await;
    let before = h.find(id).await.unwrap();

    let err = h
        .courses()
        .remove_lesson(h.instructor, id, before.lessons()[0].id())
        .await
        .unwrap_err();

    assert!(matches!(err, CourseError::LastLessonOfPublishedCourse(c) if c == id));
    assert_eq!(h.find(id).await.unwrap(), before);
}

// ---- publishing ----------------------------------------------------------------------------

#[tokio::test]
async fn publishing_a_draft_with_a_lesson_records_course_published_with_the_catalog_metadata() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&["Pengenalan"]).await;

    h.courses().publish(h.instructor, id).await.unwrap();

    assert_eq!(h.find(id).await.unwrap().status(), CourseStatus::Published);
    h.fake.assert_dispatched_times::<CoursePublished>(1);
    h.fake.assert_dispatched::<CoursePublished>(|e| {
        e.course_id == id
            && e.course_title == "Rust Dasar"
            && e.publisher_id == Some(h.instructor)
            && e.previous_status == CourseStatus::Draft
    });
    let audit = h.audit_of(id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].event_name, "course.published");
    assert_eq!(audit[0].actor_id, Some(h.instructor));
    assert_eq!(
        audit[0].metadata,
        serde_json::json!({
            "course_id": id,
            "course_title": "Rust Dasar",
            "publisher_id": h.instructor,
            "previous_status": "draft",
        })
    );
}

#[tokio::test]
async fn a_published_course_is_broadcast_on_the_public_courses_and_course_channels_after_commit() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&["Pengenalan"]).await;
    let mut all_courses = h.hub.subscribe("courses");
    let mut this_course = h.hub.subscribe(&format!("course.{id}"));

    h.courses().publish(h.instructor, id).await.unwrap();

    let message = all_courses.try_recv().expect("a message on `courses`");
    assert_eq!(message.event, "course.published");
    assert_eq!(message.data["course_id"], id.to_string());
    assert_eq!(
        this_course.try_recv().expect("a message on `course.{id}`").event,
        "course.published"
    );
}

#[tokio::test]
async fn publishing_without_lessons_is_refused_and_records_nothing() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&[]).await;
    let before = h.find(id).await.unwrap();
    h.fake.clear();

    let err = h.courses().publish(h.instructor, id).await.unwrap_err();

    assert!(matches!(err, CourseError::NoLessons(c) if c == id));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(id).await.unwrap(), before);
    assert!(h.audit_of(id).await.is_empty());
}

#[tokio::test]
async fn publishing_a_published_course_is_an_invalid_transition_naming_both_states() {
    let h = Harness::new().await;
    let id = h.published_course().await;
    let before = h.find(id).await.unwrap();
    h.fake.clear();

    let err = h.courses().publish(h.instructor, id).await.unwrap_err();

    assert!(matches!(
        err,
        CourseError::InvalidTransition(InvalidTransition {
            from: CourseStatus::Published,
            to: CourseStatus::Published
        })
    ));
    assert_eq!(err.to_string(), "a course cannot go from `published` to `published`");
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(id).await.unwrap(), before);
}

// ---- unpublishing and archiving ------------------------------------------------------------

#[tokio::test]
async fn unpublishing_records_the_number_of_active_enrollments_from_the_port() {
    let h = Harness::new().await;
    let id = h.published_course().await;
    let tally = EnrollmentTally {
        active: 4,
        completed: 1,
        total: 6,
    };

    h.courses_counting(counting(tally, id))
        .unpublish(h.instructor, id)
        .await
        .unwrap();

    assert_eq!(h.find(id).await.unwrap().status(), CourseStatus::Draft);
    h.fake.assert_dispatched_times::<CourseUnpublished>(1);
    h.fake.assert_dispatched::<CourseUnpublished>(|e| {
        e.course_id == id && e.previous_status == CourseStatus::Published && e.active_enrollments_count == 4
    });
    let audit = h.audit_of(id).await;
    let row = audit.iter().find(|a| a.event_name == "course.unpublished").unwrap();
    assert_eq!(row.metadata["active_enrollments_count"], 4);
    assert_eq!(row.metadata["previous_status"], "published");
}

#[tokio::test]
async fn unpublishing_a_draft_is_refused_without_asking_for_counts() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&["Pengenalan"]).await;
    let before = h.find(id).await.unwrap();
    h.fake.clear();

    let err = h.courses().unpublish(h.instructor, id).await.unwrap_err();

    assert!(matches!(
        err,
        CourseError::InvalidTransition(InvalidTransition {
            from: CourseStatus::Draft,
            to: CourseStatus::Draft
        })
    ));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(id).await.unwrap(), before);
}

#[tokio::test]
async fn archiving_records_the_enrollment_totals_from_the_port() {
    let h = Harness::new().await;
    let id = h.published_course().await;
    let tally = EnrollmentTally {
        active: 2,
        completed: 3,
        total: 7,
    };

    h.courses_counting(counting(tally, id))
        .archive(h.instructor, id)
        .await
        .unwrap();

    assert_eq!(h.find(id).await.unwrap().status(), CourseStatus::Archived);
    h.fake.assert_dispatched::<CourseArchived>(|e| {
        e.course_id == id
            && e.previous_status == CourseStatus::Published
            && e.total_enrollments == 7
            && e.completed_enrollments == 3
    });
    let names: Vec<String> = h.audit_of(id).await.into_iter().map(|a| a.event_name).collect();
    assert_eq!(names, ["course.published", "course.archived"]);
}

#[tokio::test]
async fn a_draft_can_be_archived_and_an_archived_course_is_final() {
    let h = Harness::new().await;
    let id = h.course_with_lessons(&["Pengenalan"]).await;
    h.courses_counting(counting(EnrollmentTally::default(), id))
        .archive(h.instructor, id)
        .await
        .unwrap();
    let before = h.find(id).await.unwrap();
    h.fake.clear();

    let publish = h.courses().publish(h.instructor, id).await.unwrap_err();
    let archive = h.courses().archive(h.instructor, id).await.unwrap_err();
    let edit = h
        .courses()
        .add_lesson(h.instructor, id, "Tambahan", LessonKind::Content)
        .await
        .unwrap_err();

    assert!(matches!(
        publish,
        CourseError::InvalidTransition(InvalidTransition {
            from: CourseStatus::Archived,
            to: CourseStatus::Published
        })
    ));
    assert!(matches!(
        archive,
        CourseError::InvalidTransition(InvalidTransition {
            from: CourseStatus::Archived,
            to: CourseStatus::Archived
        })
    ));
    assert!(matches!(edit, CourseError::Archived(c) if c == id));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(id).await.unwrap(), before);
}

#[tokio::test]
async fn a_failing_enrollment_count_rolls_the_archiving_back() {
    let h = Harness::new().await;
    let id = h.published_course().await;
    let before = h.find(id).await.unwrap();
    h.fake.clear();
    let mut counts = MockEnrollmentCounts::new();
    counts.expect_tally().times(1).returning(|_, _| {
        Err(EnrollmentCountsError::new(std::io::Error::other(
            "enrollments unavailable",
        )))
    });

    let err = h.courses_counting(counts).archive(h.instructor, id).await.unwrap_err();

    assert!(matches!(err, CourseError::EnrollmentCounts(_)));
    h.fake.assert_nothing_dispatched();
    assert_eq!(h.find(id).await.unwrap(), before);
    assert_eq!(
        h.audit_of(id).await.len(),
        1,
        "only the arrange-phase publication is audited"
    );
}
