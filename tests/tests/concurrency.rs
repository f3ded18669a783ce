//! Concurrent commands through app's real registration, on SQLite and PostgreSQL: the rules that
//! depend on what a command read hold when commands race.

use std::sync::Arc;

use app::adapters::EnrollmentCountsFromEnrollments;
use course::{CourseService, LessonKind};
use enrollment::{EnrollmentCompleted, EnrollmentService};
use progress::{LessonCompletion, ProgressService};
use shared_kernel::testing::drain;
use shared_kernel::{AuditLog, AuditQuery};
use tests::{TestApp, spawn_app, spawn_app_on_postgres};

async fn count(t: &TestApp, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(t.app.db().pool()).await.unwrap();
    n
}

/// A course of eight lessons and a learner enrolled in it; then the eight lessons are completed
/// at once, each by its own task (eight tabs, or a retried client). Exactly one completion of
/// the enrollment, one certificate, and every progress step seen once.
async fn eight_concurrent_last_lessons(t: TestApp) {
    let instructor = t.user("Budi", "budi@example.id").await;
    let learner = t.user("Siti", "siti@example.id").await;
    let courses = CourseService::new(t.app.bus().clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let course = courses.create(instructor, "Rust Dasar", "").await.unwrap();
    let mut lessons = Vec::new();
    for i in 0..8 {
        lessons.push(
            courses
                .add_lesson(instructor, course, &format!("Bab {i}"), LessonKind::Content)
                .await
                .unwrap(),
        );
    }
    courses.publish(instructor, course).await.unwrap();
    let enrollment = EnrollmentService::new(t.app.bus().clone())
        .enroll(learner, learner, course)
        .await
        .unwrap();

    let progress = ProgressService::new(t.app.bus().clone());
    let mut tasks = tokio::task::JoinSet::new();
    for lesson in lessons {
        let progress = progress.clone();
        // tokio::spawn: a command's future is Send (as a web handler's must be).
        tasks.spawn(async move { progress.complete_lesson(learner, enrollment, lesson).await });
    }
    let mut steps = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done.unwrap().unwrap() {
            LessonCompletion::Completed { course_progress } => steps.push(course_progress.value()),
            LessonCompletion::AlreadyCompleted => panic!("each lesson was completed once"),
        }
    }
    steps.sort_by(f64::total_cmp);
    assert_eq!(steps, (1..=8).map(|i| f64::from(i) * 12.5).collect::<Vec<_>>());
    drain(t.app.bus()).await;

    assert_eq!(t.events.dispatched::<EnrollmentCompleted>().len(), 1);
    assert_eq!(count(&t, "SELECT COUNT(*) FROM certificates").await, 1);
    assert_eq!(
        count(&t, "SELECT COUNT(*) FROM enrollments WHERE status = 'completed'").await,
        1
    );
    // The enrollment's events carry versions 1, 2, … in commit order.
    let trail = AuditLog::new(t.app.db().clone())
        .query(&AuditQuery::new().aggregate("enrollment", Some(enrollment.to_string())))
        .await
        .unwrap();
    let versions: Vec<i64> = trail.iter().map(|e| e.aggregate_version).collect();
    assert_eq!(versions, (1..=trail.len() as i64).collect::<Vec<_>>());
    assert_eq!(trail.last().unwrap().event_name, "enrollment.completed");
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_completions_of_the_last_lessons_complete_the_enrollment_once_on_sqlite() {
    eight_concurrent_last_lessons(spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_completions_of_the_last_lessons_complete_the_enrollment_once_on_postgres() {
    if let Some(t) = spawn_app_on_postgres("eight_concurrent_completions_on_postgres").await {
        eight_concurrent_last_lessons(t).await;
    }
}
