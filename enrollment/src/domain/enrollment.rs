//! The enrollment aggregate: a learner in a course, with their progress.

use chrono::{DateTime, Utc};
use course::Course;
use shared_kernel::{CourseId, EnrollmentId, UserId};

use super::percentage::Percentage;
use super::status::EnrollmentStatus;
use crate::error::EnrollmentError;

/// Why a learner left a course: trimmed, at most [`DropReason::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropReason(String);

impl DropReason {
    /// The longest reason kept, in characters.
    pub const MAX_CHARS: usize = 500;

    /// A reason, or `None` when `value` is blank.
    pub fn parse(value: &str) -> Result<Option<Self>, EnrollmentError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(EnrollmentError::ReasonTooLong { max: Self::MAX_CHARS });
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A learner's enrollment in a course. Other contexts read it through [`crate::find`]; only this
/// crate's commands (and [`crate::set_progress_in`] / [`crate::complete_in`]) change it.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrollment {
    id: EnrollmentId,
    user_id: UserId,
    course_id: CourseId,
    status: EnrollmentStatus,
    progress: Percentage,
    invited_by: Option<UserId>,
    enrolled_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    dropped_at: Option<DateTime<Utc>>,
    drop_reason: Option<DropReason>,
    updated_at: DateTime<Utc>,
    version: i64,
}

/// The stored form of an enrollment, for the repository to rebuild one.
pub(crate) struct EnrollmentParts {
    pub(crate) id: EnrollmentId,
    pub(crate) user_id: UserId,
    pub(crate) course_id: CourseId,
    pub(crate) status: EnrollmentStatus,
    pub(crate) progress: Percentage,
    pub(crate) invited_by: Option<UserId>,
    pub(crate) enrolled_at: DateTime<Utc>,
    pub(crate) completed_at: Option<DateTime<Utc>>,
    pub(crate) dropped_at: Option<DateTime<Utc>>,
    pub(crate) drop_reason: Option<DropReason>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) version: i64,
}

fn ensure_published(course: &Course) -> Result<(), EnrollmentError> {
    if course.is_published() {
        Ok(())
    } else {
        Err(EnrollmentError::CourseNotPublished {
            course: course.id(),
            status: course.status(),
        })
    }
}

impl Enrollment {
    /// A new active enrollment of `user` in `course`, which must be published. `invited_by` is
    /// the instructor who enrolled the learner, if it was not the learner.
    pub(crate) fn enroll(
        user_id: UserId,
        course: &Course,
        invited_by: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<Self, EnrollmentError> {
        ensure_published(course)?;
        Ok(Self {
            id: EnrollmentId::new(),
            user_id,
            course_id: course.id(),
            status: EnrollmentStatus::Active,
            progress: Percentage::ZERO,
            invited_by,
            enrolled_at: now,
            completed_at: None,
            dropped_at: None,
            drop_reason: None,
            updated_at: now,
            version: 0,
        })
    }

    pub(crate) fn from_parts(parts: EnrollmentParts) -> Self {
        Self {
            id: parts.id,
            user_id: parts.user_id,
            course_id: parts.course_id,
            status: parts.status,
            progress: parts.progress,
            invited_by: parts.invited_by,
            enrolled_at: parts.enrolled_at,
            completed_at: parts.completed_at,
            dropped_at: parts.dropped_at,
            drop_reason: parts.drop_reason,
            updated_at: parts.updated_at,
            version: parts.version,
        }
    }

    /// The enrollment's id.
    pub fn id(&self) -> EnrollmentId {
        self.id
    }

    /// The learner.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The course.
    pub fn course_id(&self) -> CourseId {
        self.course_id
    }

    /// Where it is in its lifecycle.
    pub fn status(&self) -> EnrollmentStatus {
        self.status
    }

    /// Whether the learner is taking the course.
    pub fn is_active(&self) -> bool {
        self.status == EnrollmentStatus::Active
    }

    /// How much of the course is done.
    pub fn progress(&self) -> Percentage {
        self.progress
    }

    /// The instructor who enrolled the learner, if it was not the learner.
    pub fn invited_by(&self) -> Option<UserId> {
        self.invited_by
    }

    /// When the learner enrolled.
    pub fn enrolled_at(&self) -> DateTime<Utc> {
        self.enrolled_at
    }

    /// When the course was completed.
    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at
    }

    /// When the learner last dropped out.
    pub fn dropped_at(&self) -> Option<DateTime<Utc>> {
        self.dropped_at
    }

    /// Why the learner last dropped out, if they said.
    pub fn drop_reason(&self) -> Option<&DropReason> {
        self.drop_reason.as_ref()
    }

    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// The version it was loaded at: the repository saves only over this version.
    pub(crate) fn version(&self) -> i64 {
        self.version
    }

    /// Called by the repository once a save has bumped the stored version.
    pub(crate) fn saved(&mut self) {
        self.version += 1;
    }

    fn ensure_active(&self) -> Result<(), EnrollmentError> {
        if self.is_active() {
            Ok(())
        } else {
            Err(EnrollmentError::NotActive {
                enrollment: self.id,
                status: self.status,
            })
        }
    }

    /// `active → dropped`, keeping the progress made. Returns the previous status.
    pub(crate) fn drop_out(
        &mut self,
        reason: Option<DropReason>,
        now: DateTime<Utc>,
    ) -> Result<EnrollmentStatus, EnrollmentError> {
        let next = self.status.drop_out()?;
        self.dropped_at = Some(now);
        self.drop_reason = reason;
        Ok(self.move_to(next, now))
    }

    /// `dropped → active`, in a course that is still published; the progress made before is
    /// kept. Returns the previous status.
    pub(crate) fn reenroll(
        &mut self,
        course: &Course,
        now: DateTime<Utc>,
    ) -> Result<EnrollmentStatus, EnrollmentError> {
        let next = self.status.reenroll()?;
        ensure_published(course)?;
        self.dropped_at = None;
        self.drop_reason = None;
        Ok(self.move_to(next, now))
    }

    /// `active → completed`: the whole course is done. Returns the previous status.
    pub(crate) fn complete(&mut self, now: DateTime<Utc>) -> Result<EnrollmentStatus, EnrollmentError> {
        let next = self.status.complete()?;
        self.progress = Percentage::FULL;
        self.completed_at = Some(now);
        Ok(self.move_to(next, now))
    }

    /// Records how much of the course is done; only an active enrollment progresses.
    pub(crate) fn set_progress(&mut self, progress: Percentage, now: DateTime<Utc>) -> Result<(), EnrollmentError> {
        self.ensure_active()?;
        self.progress = progress;
        self.updated_at = now;
        Ok(())
    }

    fn move_to(&mut self, next: EnrollmentStatus, now: DateTime<Utc>) -> EnrollmentStatus {
        self.updated_at = now;
        std::mem::replace(&mut self.status, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::InvalidTransition;

    fn active() -> Enrollment {
        Enrollment::from_parts(EnrollmentParts {
            id: EnrollmentId::new(),
            user_id: UserId::new(),
            course_id: CourseId::new(),
            status: EnrollmentStatus::Active,
            progress: Percentage::ZERO,
            invited_by: None,
            enrolled_at: Utc::now(),
            completed_at: None,
            dropped_at: None,
            drop_reason: None,
            updated_at: Utc::now(),
            version: 0,
        })
    }

    #[test]
    fn a_blank_drop_reason_is_no_reason() {
        assert_eq!(DropReason::parse("  ").unwrap(), None);
        assert_eq!(DropReason::parse(" sibuk ").unwrap().unwrap().as_str(), "sibuk");
    }

    #[test]
    fn a_drop_reason_longer_than_five_hundred_characters_is_refused() {
        assert!(matches!(
            DropReason::parse(&"x".repeat(501)),
            Err(EnrollmentError::ReasonTooLong { max: 500 })
        ));
    }

    #[test]
    fn dropping_keeps_the_progress_and_the_reason() {
        let mut enrollment = active();
        enrollment.set_progress(Percentage::of(1, 2), Utc::now()).unwrap();
        let reason = DropReason::parse("pindah kerja").unwrap();

        let previous = enrollment.drop_out(reason.clone(), Utc::now()).unwrap();

        assert_eq!(previous, EnrollmentStatus::Active);
        assert_eq!(enrollment.status(), EnrollmentStatus::Dropped);
        assert_eq!(enrollment.progress().value(), 50.0);
        assert_eq!(enrollment.drop_reason(), reason.as_ref());
    }

    #[test]
    fn completing_sets_full_progress_and_the_completion_time() {
        let mut enrollment = active();
        let now = Utc::now();

        enrollment.complete(now).unwrap();

        assert_eq!(enrollment.status(), EnrollmentStatus::Completed);
        assert!(enrollment.progress().is_full());
        assert_eq!(enrollment.completed_at(), Some(now));
    }

    #[test]
    fn a_completed_enrollment_can_neither_be_dropped_nor_progress() {
        let mut enrollment = active();
        enrollment.complete(Utc::now()).unwrap();
        let before = enrollment.clone();

        let dropped = enrollment.drop_out(None, Utc::now()).unwrap_err();
        let progressed = enrollment.set_progress(Percentage::ZERO, Utc::now()).unwrap_err();

        assert!(matches!(
            dropped,
            EnrollmentError::InvalidTransition(InvalidTransition {
                from: EnrollmentStatus::Completed,
                to: EnrollmentStatus::Dropped
            })
        ));
        assert!(matches!(
            progressed,
            EnrollmentError::NotActive {
                status: EnrollmentStatus::Completed,
                ..
            }
        ));
        assert_eq!(enrollment, before);
    }
}
