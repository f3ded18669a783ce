//! A real workload, for the benchmarks and the several-process tests: learners enrolled in a
//! published learning path of two one-lesson courses, each with the first course's lesson
//! completed, through the real services and so the real registration. Draining it runs about
//! ten jobs per learner, each in its own transaction: the course and path welcome
//! notifications, the completion congratulation, the certificate, the path progress (which
//! unlocks the second course and enrolls the learner in it, whose welcome follows), and one mail
//! job per notification.

use std::sync::Arc;

use course::{CourseService, LessonKind};
use learning_path::LearningPathService;
use progress::ProgressService;
use shared_kernel::users::create_user;
use shared_kernel::{CourseId, EventBus, LearningPathId, UserId};

use crate::adapters::EnrollmentCountsFromEnrollments;

/// Counts the jobs waiting for a worker, leaving out the inactivity reminders
/// (`RemindInactiveLearner`, delayed by days: a drain does not run them; one waits per
/// enrollment).
pub const JOBS_BUT_REMINDERS: &str = "SELECT COUNT(*) FROM jobs WHERE listener <> 'RemindInactiveLearner'";

/// What [`path_learners`] made.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The instructor who authored the courses and the path.
    pub instructor: UserId,
    /// The path.
    pub path: LearningPathId,
    /// Its two courses, in order.
    pub courses: [CourseId; 2],
    /// The learners, each enrolled in the path with the first course's lesson completed.
    pub learners: Vec<UserId>,
}

/// Makes `learners` learners' work (users `learner{i}@{domain}`), issuing every command through
/// the services on `bus`; the jobs wait in the queues.
///
/// # Errors
/// The first command that fails.
pub async fn path_learners(bus: &EventBus, learners: usize, domain: &str) -> anyhow::Result<Workload> {
    let instructor = user(bus, "instructor", domain).await?;
    let courses = CourseService::new(bus.clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let paths = LearningPathService::new(bus.clone());
    let path = paths.create(instructor, "Jalur", "").await?;
    let mut made = Vec::with_capacity(2);
    for title in ["Kursus A", "Kursus B"] {
        let course = courses.create(instructor, title, "").await?;
        let lesson = courses
            .add_lesson(instructor, course, "Bab 1", LessonKind::Content)
            .await?;
        courses.publish(instructor, course).await?;
        paths.add_course(instructor, path, course).await?;
        made.push((course, lesson));
    }
    paths.publish(instructor, path).await?;
    let (course_a, lesson_a) = made[0];
    let progress = ProgressService::new(bus.clone());
    let mut enrolled = Vec::with_capacity(learners);
    for i in 0..learners {
        let learner = user(bus, &format!("learner{i}"), domain).await?;
        paths.enroll(learner, learner, path).await?;
        let enrollment = enrollment::find_active(&mut *bus.db().pool().acquire().await?, learner, course_a)
            .await?
            .ok_or_else(|| anyhow::anyhow!("enrolling in the path enrolled learner{i} in its first course"))?;
        progress.complete_lesson(learner, enrollment.id(), lesson_a).await?;
        enrolled.push(learner);
    }
    Ok(Workload {
        instructor,
        path,
        courses: [made[0].0, made[1].0],
        learners: enrolled,
    })
}

async fn user(bus: &EventBus, name: &str, domain: &str) -> anyhow::Result<UserId> {
    let mut uow = bus.begin();
    let user = create_user(uow.conn().await?, name, &format!("{name}@{domain}"), "id").await?;
    uow.commit().await?;
    Ok(user.id())
}

#[cfg(test)]
mod tests {
    use enrollment::{RemindInactiveLearner, UserEnrolled};
    use shared_kernel::QueuedListener;

    #[test]
    fn the_reminder_filter_names_the_reminder_listener() {
        let name = <RemindInactiveLearner as QueuedListener<UserEnrolled>>::NAME;
        assert!(super::JOBS_BUT_REMINDERS.contains(&format!("'{name}'")));
    }
}
