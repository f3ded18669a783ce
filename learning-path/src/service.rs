//! The learning-path commands, the advancing step its listener runs inside a job's unit of
//! work, and the reads other contexts use.
//!
//! Every command runs as one unit of work: it parses its input first (bad input opens no
//! transaction), loads what it needs, applies the domain rule (a broken rule is a typed error and
//! the unit of work rolls back), saves, records its events and commits.

use course::Course;
use enrollment::EnrollmentError;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::users::{Actor, find_user};
use shared_kernel::{CourseId, EventBus, LearningPathId, PathEnrollmentId, UnitOfWork, UserId};

use crate::domain::{DropReason, LearningPath, PathEnrollment, PathTitle};
use crate::error::PathError;
use crate::events::{CourseUnlockedInPath, PathCompleted, PathDropped, PathEnrollmentCreated};
use crate::repository;

/// The learning-path commands.
#[derive(Debug, Clone)]
pub struct LearningPathService {
    bus: EventBus,
}

impl LearningPathService {
    /// Commands over `bus`.
    pub fn new(bus: EventBus) -> Self {
        Self { bus }
    }

    fn begin(&self, actor: UserId) -> UnitOfWork {
        self.bus.begin().with_actor(Some(actor))
    }

    /// Creates an empty draft path owned by `actor`. Records no event (the catalog has none).
    ///
    /// # Errors
    /// [`PathError::InvalidTitle`], [`PathError::UserNotFound`] (the owner); storage failures.
    pub async fn create(&self, actor: UserId, title: &str, description: &str) -> Result<LearningPathId, PathError> {
        let title = PathTitle::parse(title)?;
        let title = &title;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                ensure_user(conn, actor).await?;
                let path = LearningPath::create(actor, title.clone(), description, now);
                repository::insert_path(conn, &path).await?;
                uow.commit().await?;
                Ok(path.id())
            })
            .await
    }

    /// Appends a published course to a draft path's list.
    ///
    /// # Errors
    /// [`PathError::NotFound`], [`PathError::CourseNotFound`], [`PathError::NotOwner`],
    /// [`PathError::CourseListFrozen`] (a published path), [`PathError::CourseNotPublished`],
    /// [`PathError::DuplicateCourse`]; [`PathError::PathConcurrentChange`]; storage failures.
    pub async fn add_course(
        &self,
        actor: impl Into<Actor>,
        path: LearningPathId,
        course: CourseId,
    ) -> Result<(), PathError> {
        let actor = actor.into();
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor.id());
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let mut loaded = repository::get_path(conn, path).await?;
                let course = load_course(conn, course).await?;
                loaded.add_course(actor, &course, now)?;
                repository::save_path(conn, &mut loaded).await?;
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// Takes a course out of a draft path's list; the others keep their order.
    ///
    /// # Errors
    /// [`PathError::NotFound`], [`PathError::NotOwner`], [`PathError::CourseListFrozen`],
    /// [`PathError::CourseNotInPath`]; [`PathError::PathConcurrentChange`]; storage failures.
    pub async fn remove_course(
        &self,
        actor: impl Into<Actor>,
        path: LearningPathId,
        course: CourseId,
    ) -> Result<(), PathError> {
        let actor = actor.into();
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor.id());
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let mut loaded = repository::get_path(conn, path).await?;
                loaded.remove_course(actor, course, now)?;
                repository::save_path(conn, &mut loaded).await?;
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// Publishes a draft path: it needs at least one course, and all of them must still be
    /// published. Its course list is frozen from now on.
    ///
    /// # Errors
    /// [`PathError::NotFound`], [`PathError::NotOwner`], [`PathError::AlreadyPublished`],
    /// [`PathError::EmptyPath`], [`PathError::CourseNotPublished`], [`PathError::CourseNotFound`];
    /// [`PathError::PathConcurrentChange`]; storage failures.
    pub async fn publish(&self, actor: impl Into<Actor>, path: LearningPathId) -> Result<(), PathError> {
        let actor = actor.into();
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor.id());
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let mut loaded = repository::get_path(conn, path).await?;
                let mut courses = Vec::with_capacity(loaded.courses().len());
                for id in loaded.courses() {
                    courses.push(load_course(conn, *id).await?);
                }
                loaded.publish(actor, &courses, now)?;
                repository::save_path(conn, &mut loaded).await?;
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// Enrolls `learner` in a published path, recording [`PathEnrollmentCreated`], and makes its
    /// first course available: [`CourseUnlockedInPath`], and an enrollment in the course through
    /// `enrollment::enroll_in` (recording `UserEnrolled`) unless the learner already has an
    /// active one there, which is then used. A course the learner has already completed is
    /// passed straight on to the next, and past the last the path is completed
    /// ([`PathCompleted`]). When `actor` is not the learner, the course enrollment records them
    /// as `invited_by`.
    ///
    /// # Errors
    /// [`PathError::NotFound`], [`PathError::UserNotFound`], [`PathError::PathNotPublished`],
    /// [`PathError::AlreadyEnrolled`], [`PathError::CourseNotFound`],
    /// [`PathError::CourseNotPublished`] (a course of the path was unpublished or archived since
    /// the path was published), [`PathError::Enrollment`]; storage failures.
    pub async fn enroll(
        &self,
        actor: UserId,
        learner: UserId,
        path: LearningPathId,
    ) -> Result<PathEnrollmentId, PathError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let path = repository::get_path(conn, path).await?;
                ensure_user(conn, learner).await?;
                let mut enrollment = PathEnrollment::start(&path, learner, now)?;
                // Checked before the insert so the refusal does not rest on a failed statement, which
                // would abort a PostgreSQL transaction; the unique index still settles a race.
                if repository::load_active(conn, learner, path.id()).await?.is_some() {
                    return Err(PathError::AlreadyEnrolled {
                        user: learner,
                        path: path.id(),
                    });
                }
                repository::insert_enrollment(conn, &enrollment).await?;
                uow.record(PathEnrollmentCreated {
                    path_enrollment_id: enrollment.id(),
                    path_id: path.id(),
                    path_title: path.title().to_owned(),
                    user_id: learner,
                });
                open_current_course(&mut uow, actor, &path, &mut enrollment).await?;
                uow.commit().await?;
                Ok(enrollment.id())
            })
            .await
    }

    /// Drops an active path enrollment, with an optional reason, recording [`PathDropped`]. The
    /// learner's course enrollments are left as they are.
    ///
    /// # Errors
    /// [`PathError::ReasonTooLong`], [`PathError::EnrollmentNotFound`],
    /// [`PathError::InvalidTransition`] (a completed or dropped path enrollment);
    /// [`PathError::ConcurrentChange`]; storage failures.
    pub async fn drop_out(
        &self,
        actor: UserId,
        path_enrollment: PathEnrollmentId,
        reason: Option<&str>,
    ) -> Result<(), PathError> {
        let reason = reason.map(DropReason::parse).transpose()?.flatten();
        let reason = &reason;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let mut loaded = repository::get_enrollment(conn, path_enrollment).await?;
                loaded.drop_out(reason.clone(), now)?;
                repository::save_enrollment(conn, &mut loaded).await?;
                uow.record(PathDropped {
                    path_enrollment_id: loaded.id(),
                    path_id: loaded.path_id(),
                    user_id: loaded.user_id(),
                    reason: loaded.drop_reason().map(|r| r.as_str().to_owned()),
                });
                uow.commit().await?;
                Ok(())
            })
            .await
    }
}

async fn ensure_user(conn: &mut AnyConnection, user: UserId) -> Result<(), PathError> {
    match find_user(conn, user).await.map_err(PathError::User)? {
        Some(_) => Ok(()),
        None => Err(PathError::UserNotFound(user)),
    }
}

/// A refusal by `enrollment` that this context names too keeps its name (and its HTTP status);
/// anything else stays wrapped with its source.
fn from_enrollment(error: EnrollmentError) -> PathError {
    match error {
        EnrollmentError::CourseNotPublished { course, status } => PathError::CourseNotPublished { course, status },
        EnrollmentError::CourseNotFound(course) => PathError::CourseNotFound(course),
        EnrollmentError::UserNotFound(user) => PathError::UserNotFound(user),
        other => PathError::Enrollment(other),
    }
}

async fn load_course(conn: &mut AnyConnection, id: CourseId) -> Result<Course, PathError> {
    course::find(conn, id)
        .await
        .map_err(PathError::Course)?
        .ok_or(PathError::CourseNotFound(id))
}

/// Moves an active path enrollment past `completed` when that is its current course, inside the
/// caller's unit of work: saves it (guarded by its version, so of two racing jobs only one
/// advances), then records [`PathCompleted`] after the last course, or opens the next one (see
/// [`LearningPathService::enroll`]). Returns whether it advanced; `false` (another course, or
/// no longer active) writes and records nothing.
pub(crate) async fn advance_in(
    uow: &mut UnitOfWork,
    actor: UserId,
    enrollment: &mut PathEnrollment,
    completed: CourseId,
) -> Result<bool, PathError> {
    let path = repository::get_path(uow.conn().await?, enrollment.path_id()).await?;
    if !step_past(uow, &path, enrollment, completed).await? {
        return Ok(false);
    }
    open_current_course(uow, actor, &path, enrollment).await?;
    Ok(true)
}

/// One step past `completed`: saved, and [`PathCompleted`] recorded when it was the last course.
async fn step_past(
    uow: &mut UnitOfWork,
    path: &LearningPath,
    enrollment: &mut PathEnrollment,
    completed: CourseId,
) -> Result<bool, PathError> {
    let now = uow.bus().clock().now();
    if enrollment.advance_past(completed, path.courses(), now).is_none() {
        return Ok(false);
    }
    repository::save_enrollment(uow.conn().await?, enrollment).await?;
    if let Some(completed_at) = enrollment.completed_at() {
        uow.record(PathCompleted {
            path_enrollment_id: enrollment.id(),
            path_id: path.id(),
            path_title: path.title().to_owned(),
            user_id: enrollment.user_id(),
            completed_at,
        });
    }
    Ok(true)
}

/// Makes the enrollment's current course available: records [`CourseUnlockedInPath`] and
/// enrolls the learner in the course unless they already have an active enrollment there. A
/// course they have already completed is stepped past at once, so this continues with the next,
/// until a course is open or the path is completed.
async fn open_current_course(
    uow: &mut UnitOfWork,
    actor: UserId,
    path: &LearningPath,
    enrollment: &mut PathEnrollment,
) -> Result<(), PathError> {
    let learner = enrollment.user_id();
    while let Some(course_id) = enrollment.current_course() {
        let conn = uow.conn().await?;
        let course = load_course(conn, course_id).await?;
        let already_completed = enrollment::has_completed(conn, learner, course_id)
            .await
            .map_err(PathError::Enrollment)?;
        let already_active = enrollment::find_active(conn, learner, course_id)
            .await
            .map_err(PathError::Enrollment)?
            .is_some();
        uow.record(CourseUnlockedInPath {
            path_enrollment_id: enrollment.id(),
            path_id: path.id(),
            course_id,
            course_title: course.title().to_string(),
            user_id: learner,
        });
        if !already_completed {
            if !already_active {
                enrollment::enroll_in(uow, actor, learner, course_id)
                    .await
                    .map_err(from_enrollment)?;
            }
            return Ok(());
        }
        if !step_past(uow, path, enrollment, course_id).await? {
            return Ok(());
        }
    }
    Ok(())
}

/// A learning path with its courses in order, or `None`.
///
/// # Errors
/// [`PathError::Database`], [`PathError::Corrupt`].
pub async fn find(conn: &mut AnyConnection, id: LearningPathId) -> Result<Option<LearningPath>, PathError> {
    repository::load_path(conn, id).await
}

/// A path enrollment, or `None`.
///
/// # Errors
/// [`PathError::Database`], [`PathError::Corrupt`].
pub async fn find_enrollment(
    conn: &mut AnyConnection,
    id: PathEnrollmentId,
) -> Result<Option<PathEnrollment>, PathError> {
    repository::load_enrollment(conn, id).await
}

/// Every path enrollment of a learner (active, completed and dropped), oldest first.
///
/// # Errors
/// [`PathError::Database`], [`PathError::Corrupt`].
pub async fn enrollments_of(conn: &mut AnyConnection, user: UserId) -> Result<Vec<PathEnrollment>, PathError> {
    repository::enrollments_of(conn, user).await
}
