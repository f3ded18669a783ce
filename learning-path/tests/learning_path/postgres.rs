//! The same code on PostgreSQL (skipped when `ENTERAKSI_TEST_POSTGRES_URL` is unset).

use enrollment::EnrollmentCompleted;
use learning_path::{PathCompleted, PathEnrollmentStatus, PathError, UpdatePathProgressOnCourseCompletion};
use shared_kernel::testing::{TestDb, drain};
use shared_kernel::{JobContext, QueuedListener};

use crate::support::{Harness, migrators};

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
