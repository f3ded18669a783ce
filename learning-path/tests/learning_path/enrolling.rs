//! Enrolling in a path: into its first course not completed yet only, and the refusals that
//! record nothing.

use course::CourseStatus;
use enrollment::UserEnrolled;
use learning_path::{
    CourseUnlockedInPath, PathCompleted, PathEnrollmentCreated, PathEnrollmentStatus, PathError, PathStatus,
};
use shared_kernel::testing::drain;
use shared_kernel::{LearningPathId, UserId};

use crate::support::Harness;

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
