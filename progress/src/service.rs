//! The progress commands, the course progress tracker behind `RecalculateCourseProgress`, and
//! the reads.
//!
//! Every command runs as one unit of work: it parses its input first (bad input opens no
//! transaction), checks the enrollment and the lesson, applies the rule, writes, records its
//! event and commits; `RecalculateCourseProgress` then runs inside the same transaction.

use async_trait::async_trait;
use course::{Course, Lesson};
use enrollment::{Enrollment, Percentage};
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::{EnrollmentId, EventBus, LessonId, UnitOfWork, UserId};

use crate::domain::{LessonProgress, TimeSpent};
use crate::error::ProgressError;
use crate::events::{LessonCompleted, ProgressUpdated};
use crate::ports::ProgressTracking;
use crate::repository;

/// What completing a lesson did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LessonCompletion {
    /// The lesson is now completed, bringing the course to this progress.
    Completed {
        /// The course progress after this lesson.
        course_progress: Percentage,
    },
    /// It already was: nothing was written and nothing recorded.
    AlreadyCompleted,
}

/// The progress commands.
#[derive(Debug, Clone)]
pub struct ProgressService {
    bus: EventBus,
}

/// The enrollment, its course and the lesson a command is about, checked to belong together.
struct Target {
    enrollment: Enrollment,
    course: Course,
    lesson: Lesson,
}

impl Target {
    async fn load(conn: &mut AnyConnection, enrollment: EnrollmentId, lesson: LessonId) -> Result<Self, ProgressError> {
        let enrollment = load_enrollment(conn, enrollment).await?;
        let course = load_course(conn, &enrollment).await?;
        let lesson = course.lesson(lesson).cloned().ok_or(ProgressError::LessonNotInCourse {
            lesson,
            course: course.id(),
        })?;
        Ok(Self {
            enrollment,
            course,
            lesson,
        })
    }

    fn ensure_active(&self) -> Result<(), ProgressError> {
        if self.enrollment.is_active() {
            Ok(())
        } else {
            Err(ProgressError::EnrollmentNotActive {
                enrollment: self.enrollment.id(),
                status: self.enrollment.status(),
            })
        }
    }
}

impl ProgressService {
    /// Commands over `bus`.
    pub fn new(bus: EventBus) -> Self {
        Self { bus }
    }

    fn begin(&self, actor: UserId) -> UnitOfWork {
        self.bus.begin().with_actor(Some(actor))
    }

    /// Completes a lesson of an active enrollment and records [`LessonCompleted`];
    /// `RecalculateCourseProgress` then updates the course progress (and completes the
    /// enrollment at 100 %) in the same transaction. Completing a completed lesson is
    /// [`LessonCompletion::AlreadyCompleted`] and writes and records nothing, even once the
    /// enrollment itself is completed, so a client may safely retry.
    ///
    /// # Errors
    /// As [`complete_lesson_in`]; and [`ProgressError::UnitOfWork`] when the recalculation
    /// failed (everything rolled back).
    pub async fn complete_lesson(
        &self,
        actor: UserId,
        enrollment: EnrollmentId,
        lesson: LessonId,
    ) -> Result<LessonCompletion, ProgressError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let outcome = complete_lesson_in(&mut uow, enrollment, lesson).await?;
                if let LessonCompletion::Completed { .. } = outcome {
                    uow.commit().await?;
                }
                // An already completed lesson leaves the unit of work without writes or events; dropping
                // it just ends the read transaction.
                Ok(outcome)
            })
            .await
    }

    /// Adds a sitting's `seconds` to the time spent on a lesson of an active enrollment and
    /// returns the lesson's total. Records no event (time is not progress).
    ///
    /// # Errors
    /// [`ProgressError::InvalidTimeSpent`], [`ProgressError::EnrollmentNotFound`],
    /// [`ProgressError::LessonNotInCourse`], [`ProgressError::EnrollmentNotActive`]; storage
    /// failures.
    pub async fn record_time_spent(
        &self,
        actor: UserId,
        enrollment: EnrollmentId,
        lesson: LessonId,
        seconds: u64,
    ) -> Result<u64, ProgressError> {
        let time = TimeSpent::from_seconds(seconds)?;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                Target::load(conn, enrollment, lesson).await?.ensure_active()?;
                let total = repository::add_time(conn, enrollment, lesson, time, now).await?;
                uow.commit().await?;
                Ok(total)
            })
            .await
    }

    /// Records how far (0–100 %) the learner is through a lesson of an active enrollment and, if
    /// that changed, records [`ProgressUpdated`] (a live update, not audited). A completed lesson
    /// stays at 100 %.
    ///
    /// # Errors
    /// [`ProgressError::InvalidPercentage`], [`ProgressError::EnrollmentNotFound`],
    /// [`ProgressError::LessonNotInCourse`], [`ProgressError::EnrollmentNotActive`]; storage
    /// failures.
    pub async fn update_lesson_progress(
        &self,
        actor: UserId,
        enrollment: EnrollmentId,
        lesson: LessonId,
        percentage: f64,
    ) -> Result<(), ProgressError> {
        let percentage = Percentage::new(percentage)?;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let target = Target::load(conn, enrollment, lesson).await?;
                target.ensure_active()?;
                let mut progress = repository::load(conn, enrollment, lesson)
                    .await?
                    .unwrap_or_else(|| LessonProgress::start(enrollment, lesson, now));
                if !progress.update_percentage(percentage, now) || !repository::save_percentage(conn, &progress).await?
                {
                    return Ok(());
                }
                uow.record(ProgressUpdated {
                    enrollment_id: enrollment,
                    user_id: target.enrollment.user_id(),
                    lesson_id: lesson,
                    course_progress: target.enrollment.progress().value(),
                    lesson_progress: progress.percentage().value(),
                    is_completed: progress.is_completed(),
                });
                uow.commit().await?;
                Ok(())
            })
            .await
    }
}

/// Completes a lesson inside the caller's unit of work, recording [`LessonCompleted`] there;
/// see [`ProgressService::complete_lesson`]. For a listener that completes lessons as part of
/// another command (e.g. passing an assessment lesson), whose sync listeners then include
/// `RecalculateCourseProgress` in the same cascade.
///
/// # Errors
/// [`ProgressError::EnrollmentNotFound`], [`ProgressError::LessonNotInCourse`],
/// [`ProgressError::EnrollmentNotActive`]; storage failures.
pub async fn complete_lesson_in(
    uow: &mut UnitOfWork,
    enrollment: EnrollmentId,
    lesson: LessonId,
) -> Result<LessonCompletion, ProgressError> {
    let now = uow.bus().clock().now();
    let conn = uow.conn().await?;
    let target = Target::load(conn, enrollment, lesson).await?;
    let mut progress = repository::load(conn, enrollment, lesson)
        .await?
        .unwrap_or_else(|| LessonProgress::start(enrollment, lesson, now));
    if progress.is_completed() {
        return Ok(LessonCompletion::AlreadyCompleted);
    }
    target.ensure_active()?;
    progress.complete(now);
    if !repository::save_completion(conn, &progress).await? {
        // Another command completed it between our read and our write.
        return Ok(LessonCompletion::AlreadyCompleted);
    }
    let course_progress = course_progress(conn, enrollment, &target.course).await?;
    uow.record(LessonCompleted {
        enrollment_id: enrollment,
        user_id: target.enrollment.user_id(),
        lesson_id: lesson,
        lesson_title: target.lesson.title().to_string(),
        course_id: target.course.id(),
        course_title: target.course.title().to_string(),
        course_progress: course_progress.value(),
    });
    Ok(LessonCompletion::Completed { course_progress })
}

/// The real [`ProgressTracking`]: course progress from the completed lessons still in the
/// course, stored through enrollment's in-unit-of-work API, which also completes the enrollment
/// (exactly once: only an active enrollment is recalculated, and the completion is a guarded
/// write) with the total time spent on its lessons.
#[derive(Debug, Default, Clone, Copy)]
pub struct CourseProgressTracker;

impl CourseProgressTracker {
    /// The tracker.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl ProgressTracking for CourseProgressTracker {
    #[tracing::instrument(name = "recalculate a course's progress", skip(self, uow))]
    async fn recalculate_course_progress(
        &self,
        uow: &mut UnitOfWork,
        enrollment: EnrollmentId,
    ) -> Result<Percentage, ProgressError> {
        let conn = uow.conn().await?;
        let loaded = load_enrollment(conn, enrollment).await?;
        if !loaded.is_active() {
            // A completed enrollment stays complete; a dropped one makes no progress.
            return Ok(loaded.progress());
        }
        let course = load_course(conn, &loaded).await?;
        let progress = course_progress(conn, enrollment, &course).await?;
        if progress.is_full() {
            let total_time_spent = repository::total_time_spent(conn, enrollment).await?;
            enrollment::complete_in(uow, enrollment, total_time_spent)
                .await
                .map_err(ProgressError::Enrollment)?;
        } else {
            enrollment::set_progress_in(uow, enrollment, progress)
                .await
                .map_err(ProgressError::Enrollment)?;
        }
        Ok(progress)
    }
}

/// Completed lessons still in the course / lessons of the course.
async fn course_progress(
    conn: &mut AnyConnection,
    enrollment: EnrollmentId,
    course: &Course,
) -> Result<Percentage, ProgressError> {
    let completed = repository::completed_lessons(conn, enrollment).await?;
    let done = course.lessons().iter().filter(|l| completed.contains(&l.id())).count();
    Ok(Percentage::of(done as u64, course.lessons().len() as u64))
}

async fn load_enrollment(conn: &mut AnyConnection, id: EnrollmentId) -> Result<Enrollment, ProgressError> {
    enrollment::find(conn, id)
        .await
        .map_err(ProgressError::Enrollment)?
        .ok_or(ProgressError::EnrollmentNotFound(id))
}

async fn load_course(conn: &mut AnyConnection, enrollment: &Enrollment) -> Result<Course, ProgressError> {
    course::find(conn, enrollment.course_id())
        .await
        .map_err(ProgressError::Course)?
        .ok_or(ProgressError::CourseNotFound(enrollment.course_id()))
}

/// The learner's progress through one lesson, if they ever touched it.
///
/// # Errors
/// [`ProgressError::Database`], [`ProgressError::Corrupt`].
pub async fn lesson_progress(
    conn: &mut AnyConnection,
    enrollment: EnrollmentId,
    lesson: LessonId,
) -> Result<Option<LessonProgress>, ProgressError> {
    repository::load(conn, enrollment, lesson).await
}

/// Seconds spent on all of an enrollment's lessons.
///
/// # Errors
/// [`ProgressError::Database`].
pub async fn total_time_spent(conn: &mut AnyConnection, enrollment: EnrollmentId) -> Result<u64, ProgressError> {
    repository::total_time_spent(conn, enrollment).await
}
