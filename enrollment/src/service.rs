//! The enrollment commands, the steps `progress` runs inside its own unit of work, and the reads
//! other contexts use.
//!
//! Every command runs as one unit of work: it parses its input first (bad input opens no
//! transaction), loads what it needs, applies the domain rule (a broken rule is a typed error and
//! the unit of work rolls back), saves, records its event and commits.

use course::Course;
use shared_kernel::sqlx::AnyConnection;
use shared_kernel::users::find_user;
use shared_kernel::{CourseId, EnrollmentId, EventBus, UnitOfWork, UserId};

use crate::domain::{Certificate, DropReason, Enrollment, Percentage, VerificationCode};
use crate::error::EnrollmentError;
use crate::events::{EnrollmentCompleted, UserDropped, UserEnrolled, UserReenrolled};
use crate::repository;

/// The enrollment commands.
#[derive(Debug, Clone)]
pub struct EnrollmentService {
    bus: EventBus,
}

impl EnrollmentService {
    /// Commands over `bus`.
    pub fn new(bus: EventBus) -> Self {
        Self { bus }
    }

    fn begin(&self, actor: UserId) -> UnitOfWork {
        self.bus.begin().with_actor(Some(actor))
    }

    /// Enrolls `learner` in a published course, recording [`UserEnrolled`]. When `actor` is not
    /// the learner (an instructor enrolling someone), the enrollment records them as `invited_by`.
    ///
    /// # Errors
    /// [`EnrollmentError::CourseNotFound`], [`EnrollmentError::UserNotFound`],
    /// [`EnrollmentError::CourseNotPublished`], [`EnrollmentError::AlreadyEnrolled`]; storage
    /// failures.
    pub async fn enroll(
        &self,
        actor: UserId,
        learner: UserId,
        course: CourseId,
    ) -> Result<EnrollmentId, EnrollmentError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let enrollment = enroll_in(&mut uow, actor, learner, course).await?;
                uow.commit().await?;
                Ok(enrollment.id())
            })
            .await
    }

    /// Drops an active enrollment, with an optional reason, recording [`UserDropped`]. The
    /// progress made is kept for a later re-enrollment.
    ///
    /// # Errors
    /// [`EnrollmentError::ReasonTooLong`], [`EnrollmentError::NotFound`],
    /// [`EnrollmentError::InvalidTransition`] (a completed or dropped enrollment);
    /// [`EnrollmentError::ConcurrentChange`]; storage failures.
    pub async fn drop_out(
        &self,
        actor: UserId,
        enrollment: EnrollmentId,
        reason: Option<&str>,
    ) -> Result<(), EnrollmentError> {
        let reason = reason.map(DropReason::parse).transpose()?.flatten();
        let reason = &reason;
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let mut loaded = repository::get(conn, enrollment).await?;
                loaded.drop_out(reason.clone(), now)?;
                repository::save(conn, &mut loaded).await?;
                uow.record(UserDropped {
                    enrollment_id: enrollment,
                    user_id: loaded.user_id(),
                    course_id: loaded.course_id(),
                    reason: loaded.drop_reason().map(|r| r.as_str().to_owned()),
                    progress_at_drop: loaded.progress().value(),
                });
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// Re-activates a dropped enrollment in a course that is still published, keeping its
    /// progress, and records [`UserReenrolled`].
    ///
    /// # Errors
    /// [`EnrollmentError::NotFound`], [`EnrollmentError::InvalidTransition`] (an active or
    /// completed enrollment), [`EnrollmentError::CourseNotPublished`],
    /// [`EnrollmentError::AlreadyEnrolled`] (the learner enrolled anew meanwhile);
    /// [`EnrollmentError::ConcurrentChange`]; storage failures.
    pub async fn reenroll(&self, actor: UserId, enrollment: EnrollmentId) -> Result<(), EnrollmentError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                let now = uow.bus().clock().now();
                let conn = uow.conn().await?;
                let mut loaded = repository::get(conn, enrollment).await?;
                let course = load_course(conn, loaded.course_id()).await?;
                let previous_status = loaded.reenroll(&course, now)?;
                repository::save(conn, &mut loaded).await?;
                uow.record(UserReenrolled {
                    enrollment_id: enrollment,
                    user_id: loaded.user_id(),
                    course_id: loaded.course_id(),
                    previous_status,
                });
                uow.commit().await?;
                Ok(())
            })
            .await
    }

    /// Completes an active enrollment as its own command (e.g. an administrator's override);
    /// see [`complete_in`]. Completion normally happens when `progress` finds every lesson done.
    ///
    /// # Errors
    /// As [`complete_in`].
    pub async fn complete(
        &self,
        actor: UserId,
        enrollment: EnrollmentId,
        total_time_spent: u64,
    ) -> Result<(), EnrollmentError> {
        self.bus
            .retrying(|| async move {
                let mut uow = self.begin(actor);
                complete_in(&mut uow, enrollment, total_time_spent).await?;
                uow.commit().await?;
                Ok(())
            })
            .await
    }
}

/// Sets an active enrollment's progress inside the caller's unit of work (`progress`'s
/// `RecalculateCourseProgress` runs it in the command's transaction). Writes nothing when the
/// progress is unchanged. Records no event: progress events belong to `progress`.
///
/// # Errors
/// [`EnrollmentError::NotFound`], [`EnrollmentError::NotActive`];
/// [`EnrollmentError::ConcurrentChange`]; storage failures.
pub async fn set_progress_in(
    uow: &mut UnitOfWork,
    enrollment: EnrollmentId,
    progress: Percentage,
) -> Result<Enrollment, EnrollmentError> {
    let now = uow.bus().clock().now();
    let conn = uow.conn().await?;
    let mut loaded = repository::get(conn, enrollment).await?;
    let changed = loaded.progress() != progress;
    loaded.set_progress(progress, now)?;
    if changed {
        repository::save(conn, &mut loaded).await?;
    }
    Ok(loaded)
}

/// Completes an active enrollment inside the caller's unit of work and records
/// [`EnrollmentCompleted`] there, with the learner's name from the users store and the
/// `total_time_spent` (seconds) the caller measured. The save is guarded by the version read, so
/// an enrollment is completed exactly once even under concurrent commands.
///
/// # Errors
/// [`EnrollmentError::NotFound`], [`EnrollmentError::InvalidTransition`] (not active),
/// [`EnrollmentError::CourseNotFound`]; [`EnrollmentError::ConcurrentChange`]; storage failures.
pub async fn complete_in(
    uow: &mut UnitOfWork,
    enrollment: EnrollmentId,
    total_time_spent: u64,
) -> Result<Enrollment, EnrollmentError> {
    let now = uow.bus().clock().now();
    let conn = uow.conn().await?;
    let mut loaded = repository::get(conn, enrollment).await?;
    loaded.complete(now)?;
    let course = load_course(conn, loaded.course_id()).await?;
    let user_name = find_user(conn, loaded.user_id())
        .await
        .map_err(EnrollmentError::User)?
        .map(|user| user.name().to_owned());
    repository::save(conn, &mut loaded).await?;
    uow.record(EnrollmentCompleted {
        enrollment_id: enrollment,
        user_id: loaded.user_id(),
        user_name,
        course_id: loaded.course_id(),
        course_title: course.title().to_string(),
        enrolled_at: loaded.enrolled_at(),
        completed_at: now,
        total_time_spent,
    });
    Ok(loaded)
}

async fn load_course(conn: &mut AnyConnection, id: CourseId) -> Result<Course, EnrollmentError> {
    course::find(conn, id)
        .await
        .map_err(EnrollmentError::Course)?
        .ok_or(EnrollmentError::CourseNotFound(id))
}

/// Enrolls `learner` in a published course inside the caller's unit of work, recording
/// [`UserEnrolled`] (the step `learning-path` runs when a path enrolls or unlocks a course). When
/// `actor` is not the learner, the enrollment records them as `invited_by`.
///
/// # Errors
/// [`EnrollmentError::CourseNotFound`], [`EnrollmentError::UserNotFound`],
/// [`EnrollmentError::CourseNotPublished`], [`EnrollmentError::AlreadyEnrolled`]; storage
/// failures. The caller's unit of work should then be rolled back.
pub async fn enroll_in(
    uow: &mut UnitOfWork,
    actor: UserId,
    learner: UserId,
    course: CourseId,
) -> Result<Enrollment, EnrollmentError> {
    let now = uow.bus().clock().now();
    let conn = uow.conn().await?;
    let course = load_course(conn, course).await?;
    if find_user(conn, learner).await.map_err(EnrollmentError::User)?.is_none() {
        return Err(EnrollmentError::UserNotFound(learner));
    }
    let invited_by = (actor != learner).then_some(actor);
    let enrollment = Enrollment::enroll(learner, &course, invited_by, now)?;
    repository::insert(conn, &enrollment).await?;
    uow.record(UserEnrolled {
        enrollment_id: enrollment.id(),
        user_id: learner,
        course_id: course.id(),
        course_title: course.title().to_string(),
        invited_by,
    });
    Ok(enrollment)
}

/// An enrollment, or `None`.
///
/// # Errors
/// [`EnrollmentError::Database`], [`EnrollmentError::Corrupt`].
pub async fn find(conn: &mut AnyConnection, id: EnrollmentId) -> Result<Option<Enrollment>, EnrollmentError> {
    repository::load(conn, id).await
}

/// A learner's enrollments, newest first (ids are time-ordered), at most `limit`, those with an
/// id below `before` when given.
///
/// # Errors
/// [`EnrollmentError::Database`], [`EnrollmentError::Corrupt`].
pub async fn of_learner(
    conn: &mut AnyConnection,
    user: UserId,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Enrollment>, EnrollmentError> {
    repository::of_learner(conn, user, before, limit).await
}

/// The learner's active enrollment in a course, or `None`.
///
/// # Errors
/// [`EnrollmentError::Database`], [`EnrollmentError::Corrupt`].
pub async fn find_active(
    conn: &mut AnyConnection,
    user: UserId,
    course: CourseId,
) -> Result<Option<Enrollment>, EnrollmentError> {
    repository::load_active(conn, user, course).await
}

/// Whether the learner has completed the course, in this or an earlier enrollment (a learner
/// who completed it and re-enrolled has still completed it once).
///
/// # Errors
/// [`EnrollmentError::Database`].
pub async fn has_completed(conn: &mut AnyConnection, user: UserId, course: CourseId) -> Result<bool, EnrollmentError> {
    repository::has_completed(conn, user, course).await
}

/// A course's enrollments by state: what `app`'s adapter of course's `EnrollmentCounts` port
/// returns.
///
/// # Errors
/// [`EnrollmentError::Database`].
pub async fn tally(conn: &mut AnyConnection, course: CourseId) -> Result<course::EnrollmentTally, EnrollmentError> {
    repository::tally(conn, course).await
}

/// The certificate of an enrollment, once issued.
///
/// # Errors
/// [`EnrollmentError::Database`], [`EnrollmentError::Corrupt`].
pub async fn certificate_of(
    conn: &mut AnyConnection,
    enrollment: EnrollmentId,
) -> Result<Option<Certificate>, EnrollmentError> {
    repository::certificate_of(conn, enrollment).await
}

/// The certificate a verification code (as a person typed it) belongs to, or `None`.
///
/// # Errors
/// [`EnrollmentError::Database`], [`EnrollmentError::Corrupt`].
pub async fn verify_certificate(conn: &mut AnyConnection, code: &str) -> Result<Option<Certificate>, EnrollmentError> {
    match VerificationCode::parse(code) {
        Some(code) => repository::certificate_by_code(conn, &code).await,
        None => Ok(None),
    }
}
