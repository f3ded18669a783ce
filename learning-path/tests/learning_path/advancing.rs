//! Advancing as courses are completed: the progress job unlocks the next course in order, or
//! completes the path, exactly once.

use std::sync::Arc;

use enrollment::EnrollmentCompleted;
use learning_path::{PathCompleted, PathEnrollmentStatus, UpdatePathProgressOnCourseCompletion};
use shared_kernel::testing::drain;
use shared_kernel::{JobContext, ManualClock, Queue, QueuedListener, to_db_text};

use crate::support::Harness;

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
