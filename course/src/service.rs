//! The course commands, and the reads other contexts use.
//!
//! Every command runs as one unit of work: it parses its input first (bad input opens no
//! transaction), loads the course, applies the domain rule (a broken rule is a typed error and
//! the unit of work rolls back), saves, records its event and commits.

use std::sync::Arc;

use shared_kernel::sqlx::AnyConnection;
use shared_kernel::{AssessmentId, CourseId, EventBus, LessonId, UnitOfWork, UserId};

use crate::domain::{Course, Lesson, LessonKind, Title};
use crate::error::CourseError;
use crate::events::{CourseArchived, CoursePublished, CourseUnpublished};
use crate::ports::EnrollmentCounts;
use crate::repository;

/// The course commands.
#[derive(Clone)]
pub struct CourseService {
    bus: EventBus,
    counts: Arc<dyn EnrollmentCounts>,
}

impl std::fmt::Debug for CourseService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CourseService")
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

impl CourseService {
    /// Commands over `bus`, reading enrollment counts through `counts`.
    pub fn new(bus: EventBus, counts: Arc<dyn EnrollmentCounts>) -> Self {
        Self { bus, counts }
    }

    fn begin(&self, actor: UserId) -> UnitOfWork {
        self.bus.begin().with_actor(Some(actor))
    }

    /// Creates a draft course without lessons; `actor` becomes its instructor.
    ///
    /// # Errors
    /// [`CourseError::InvalidTitle`]; storage failures.
    pub async fn create(&self, actor: UserId, title: &str, description: &str) -> Result<CourseId, CourseError> {
        let title = Title::parse(title)?;
        let title = &title;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let course = Course::create(actor, title.clone(), description, uow.bus().clock().now());
                repository::insert(uow.conn().await?, &course).await?;
                uow.commit().await?;
                Ok(course.id())
            })
            .await
    }

    /// Replaces a course's title and description.
    ///
    /// # Errors
    /// [`CourseError::InvalidTitle`], [`CourseError::NotFound`], [`CourseError::Archived`];
    /// [`CourseError::ConcurrentChange`]; storage failures.
    pub async fn update_details(
        &self,
        actor: UserId,
        course: CourseId,
        title: &str,
        description: &str,
    ) -> Result<(), CourseError> {
        let title = Title::parse(title)?;
        let title = &title;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let mut loaded = repository::get(uow.conn().await?, course).await?;
                loaded.update_details(title.clone(), description, uow.bus().clock().now())?;
                repository::save(uow.conn().await?, &loaded).await?;
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// Appends a lesson to a course and returns its id.
    ///
    /// # Errors
    /// [`CourseError::InvalidTitle`], [`CourseError::NotFound`], [`CourseError::Archived`];
    /// [`CourseError::ConcurrentChange`]; storage failures.
    pub async fn add_lesson(
        &self,
        actor: UserId,
        course: CourseId,
        title: &str,
        kind: LessonKind,
    ) -> Result<LessonId, CourseError> {
        let title = Title::parse(title)?;
        let title = &title;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let now = uow.bus().clock().now();
                let mut loaded = repository::get(uow.conn().await?, course).await?;
                let lesson = loaded.add_lesson(title.clone(), kind, now)?.clone();
                repository::save(uow.conn().await?, &loaded).await?;
                repository::insert_lesson(uow.conn().await?, course, &lesson, now).await?;
                uow.commit().await?;
                Ok(lesson.id())
            })
            .await
    }

    /// Puts a course's lessons in the given order, which must list each of them exactly once.
    ///
    /// # Errors
    /// [`CourseError::NotAPermutation`], [`CourseError::NotFound`], [`CourseError::Archived`];
    /// [`CourseError::ConcurrentChange`]; storage failures.
    pub async fn reorder_lessons(
        &self,
        actor: UserId,
        course: CourseId,
        order: &[LessonId],
    ) -> Result<(), CourseError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let mut loaded = repository::get(uow.conn().await?, course).await?;
                loaded.reorder_lessons(order, uow.bus().clock().now())?;
                repository::save(uow.conn().await?, &loaded).await?;
                repository::save_positions(uow.conn().await?, &loaded).await?;
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// Removes a lesson; the lessons after it move up.
    ///
    /// # Errors
    /// [`CourseError::LessonNotFound`], [`CourseError::LastLessonOfPublishedCourse`],
    /// [`CourseError::NotFound`], [`CourseError::Archived`]; [`CourseError::ConcurrentChange`];
    /// storage failures.
    pub async fn remove_lesson(&self, actor: UserId, course: CourseId, lesson: LessonId) -> Result<(), CourseError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let mut loaded = repository::get(uow.conn().await?, course).await?;
                loaded.remove_lesson(lesson, uow.bus().clock().now())?;
                repository::save(uow.conn().await?, &loaded).await?;
                repository::delete_lesson(uow.conn().await?, course, lesson).await?;
                repository::save_positions(uow.conn().await?, &loaded).await?;
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// `draft → published`, recording [`CoursePublished`]. The course needs a lesson.
    ///
    /// # Errors
    /// [`CourseError::NoLessons`], [`CourseError::InvalidTransition`], [`CourseError::NotFound`];
    /// [`CourseError::ConcurrentChange`]; storage failures.
    pub async fn publish(&self, actor: UserId, course: CourseId) -> Result<(), CourseError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let mut loaded = repository::get(uow.conn().await?, course).await?;
                let previous_status = loaded.publish(uow.bus().clock().now())?;
                repository::save(uow.conn().await?, &loaded).await?;
                uow.record(CoursePublished {
                    course_id: course,
                    course_title: loaded.title().to_string(),
                    publisher_id: Some(actor),
                    previous_status,
                });
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// `published → draft`, recording [`CourseUnpublished`] with the number of learners still
    /// in the course.
    ///
    /// # Errors
    /// [`CourseError::InvalidTransition`], [`CourseError::NotFound`],
    /// [`CourseError::EnrollmentCounts`]; [`CourseError::ConcurrentChange`]; storage failures.
    pub async fn unpublish(&self, actor: UserId, course: CourseId) -> Result<(), CourseError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let mut loaded = repository::get(uow.conn().await?, course).await?;
                let previous_status = loaded.unpublish(uow.bus().clock().now())?;
                let tally = self
                    .counts
                    .tally(uow.conn().await?, course)
                    .await
                    .map_err(CourseError::EnrollmentCounts)?;
                repository::save(uow.conn().await?, &loaded).await?;
                uow.record(CourseUnpublished {
                    course_id: course,
                    course_title: loaded.title().to_string(),
                    previous_status,
                    active_enrollments_count: tally.active,
                });
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// `draft | published → archived`, for good, recording [`CourseArchived`] with the course's
    /// enrollment totals.
    ///
    /// # Errors
    /// [`CourseError::InvalidTransition`], [`CourseError::NotFound`],
    /// [`CourseError::EnrollmentCounts`]; [`CourseError::ConcurrentChange`]; storage failures.
    pub async fn archive(&self, actor: UserId, course: CourseId) -> Result<(), CourseError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let mut loaded = repository::get(uow.conn().await?, course).await?;
                let previous_status = loaded.archive(uow.bus().clock().now())?;
                let tally = self
                    .counts
                    .tally(uow.conn().await?, course)
                    .await
                    .map_err(CourseError::EnrollmentCounts)?;
                repository::save(uow.conn().await?, &loaded).await?;
                uow.record(CourseArchived {
                    course_id: course,
                    course_title: loaded.title().to_string(),
                    previous_status,
                    total_enrollments: tally.total,
                    completed_enrollments: tally.completed,
                });
                uow.commit().await?;
                Ok(())
            })
            .await
    }
}

/// Links `assessment` to an assessment lesson of `course`, inside the caller's unit of work (the
/// step `assessment` runs when it creates an assessment for a lesson). Linking the same
/// assessment again changes nothing.
///
/// # Errors
/// [`CourseError::NotFound`], [`CourseError::LessonNotFound`],
/// [`CourseError::NotAnAssessmentLesson`], [`CourseError::AssessmentAlreadyLinked`] (another
/// assessment), [`CourseError::Archived`]; storage failures. The caller's unit of work should then
/// be rolled back.
pub async fn link_assessment_in(
    conn: &mut AnyConnection,
    course: CourseId,
    lesson: LessonId,
    assessment: AssessmentId,
) -> Result<(), CourseError> {
    let loaded = repository::get(conn, course).await?;
    if loaded.status() == crate::CourseStatus::Archived {
        return Err(CourseError::Archived(course));
    }
    let found = loaded
        .lesson(lesson)
        .ok_or(CourseError::LessonNotFound { course, lesson })?;
    match found.kind() {
        LessonKind::Content => Err(CourseError::NotAnAssessmentLesson { course, lesson }),
        LessonKind::Assessment {
            assessment: Some(linked),
        } if linked == assessment => Ok(()),
        LessonKind::Assessment {
            assessment: Some(linked),
        } => Err(CourseError::AssessmentAlreadyLinked { lesson, linked }),
        LessonKind::Assessment { assessment: None } => {
            repository::link_assessment(conn, course, lesson, assessment).await
        }
    }
}

/// A course with its lessons in order, or `None`. Other contexts read courses through this
/// (outside or inside their unit of work: pass `uow.conn().await?` to read in its transaction).
///
/// # Errors
/// [`CourseError::Database`], [`CourseError::Corrupt`].
pub async fn find(conn: &mut AnyConnection, id: CourseId) -> Result<Option<Course>, CourseError> {
    repository::load(conn, id).await
}

/// A course's lessons in order (empty for an unknown course).
///
/// # Errors
/// [`CourseError::Database`], [`CourseError::Corrupt`].
pub async fn lessons_of(conn: &mut AnyConnection, id: CourseId) -> Result<Vec<Lesson>, CourseError> {
    repository::lessons_of(conn, id).await
}
