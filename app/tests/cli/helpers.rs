//! What the modules of this binary share: running `enteraksi` to its end, and a database of
//! enrolled learners whose welcome jobs wait.

use std::process::{Command, Output};
use std::sync::Arc;

use app::adapters::EnrollmentCountsFromEnrollments;
use app::config::Config;
use app::{Application, StartOptions};
use course::{CourseService, LessonKind};
use enrollment::EnrollmentService;

/// Runs `command` to its end: its output, and its stderr as text.
pub fn run(command: &mut Command) -> (Output, String) {
    let output = command.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

/// `learners` learners enrolled in a published course: as many welcome-notification jobs (each
/// enqueues a mail job when it runs).
pub async fn welcome_jobs(config: &Config, learners: usize) {
    let app = Application::start_with(config, StartOptions::default()).await.unwrap();
    let mut uow = app.bus().begin();
    let instructor = shared_kernel::users::create_user(uow.conn().await.unwrap(), "Budi", "budi@example.id", "id")
        .await
        .unwrap()
        .id();
    uow.commit().await.unwrap();
    let courses = CourseService::new(app.bus().clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let course = courses.create(instructor, "Rust Dasar", "").await.unwrap();
    courses
        .add_lesson(instructor, course, "Bab 1", LessonKind::Content)
        .await
        .unwrap();
    courses.publish(instructor, course).await.unwrap();
    let enrollments = EnrollmentService::new(app.bus().clone());
    for i in 0..learners {
        let mut uow = app.bus().begin();
        let learner = shared_kernel::users::create_user(
            uow.conn().await.unwrap(),
            &format!("Siswa {i}"),
            &format!("siswa{i}@example.id"),
            "id",
        )
        .await
        .unwrap()
        .id();
        uow.commit().await.unwrap();
        enrollments.enroll(learner, learner, course).await.unwrap();
    }
    app.db().close().await;
}
