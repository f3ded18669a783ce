//! The path enrollment aggregate: a learner's way through a published path, one course at a
//! time, each unlocked when the previous one is completed.

use chrono::{DateTime, Utc};
use shared_kernel::{CourseId, LearningPathId, PathEnrollmentId, UserId};

use super::path::LearningPath;
use super::status::{InvalidTransition, PathEnrollmentStatus};
use crate::error::PathError;

/// Why a learner left a path: trimmed, at most [`DropReason::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropReason(String);

impl DropReason {
    /// The longest reason kept, in characters.
    pub const MAX_CHARS: usize = 500;

    /// A reason, or `None` when `value` is blank.
    pub fn parse(value: &str) -> Result<Option<Self>, PathError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(PathError::ReasonTooLong { max: Self::MAX_CHARS });
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What completing the current course did to a path enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The next course is now the current one.
    Unlocked(CourseId),
    /// That was the last course: the path is completed.
    Completed,
}

/// A learner's enrollment in a learning path. Read through [`crate::find_enrollment`] and
/// [`crate::enrollments_of`].
#[derive(Debug, Clone, PartialEq)]
pub struct PathEnrollment {
    id: PathEnrollmentId,
    path_id: LearningPathId,
    user_id: UserId,
    status: PathEnrollmentStatus,
    position: usize,
    current_course: Option<CourseId>,
    enrolled_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    dropped_at: Option<DateTime<Utc>>,
    drop_reason: Option<DropReason>,
    updated_at: DateTime<Utc>,
    version: i64,
}

/// The stored form of a path enrollment, for the repository to rebuild one.
pub(crate) struct PathEnrollmentParts {
    pub(crate) id: PathEnrollmentId,
    pub(crate) path_id: LearningPathId,
    pub(crate) user_id: UserId,
    pub(crate) status: PathEnrollmentStatus,
    pub(crate) position: usize,
    pub(crate) current_course: Option<CourseId>,
    pub(crate) enrolled_at: DateTime<Utc>,
    pub(crate) completed_at: Option<DateTime<Utc>>,
    pub(crate) dropped_at: Option<DateTime<Utc>>,
    pub(crate) drop_reason: Option<DropReason>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) version: i64,
}

impl PathEnrollment {
    /// A new active enrollment of `user` in a published path, on its first course.
    pub(crate) fn start(path: &LearningPath, user_id: UserId, now: DateTime<Utc>) -> Result<Self, PathError> {
        if !path.is_published() {
            return Err(PathError::PathNotPublished {
                path: path.id(),
                status: path.status(),
            });
        }
        let first = *path.courses().first().ok_or(PathError::EmptyPath(path.id()))?;
        Ok(Self {
            id: PathEnrollmentId::new(),
            path_id: path.id(),
            user_id,
            status: PathEnrollmentStatus::Active,
            position: 0,
            current_course: Some(first),
            enrolled_at: now,
            completed_at: None,
            dropped_at: None,
            drop_reason: None,
            updated_at: now,
            version: 0,
        })
    }

    pub(crate) fn from_parts(parts: PathEnrollmentParts) -> Self {
        Self {
            id: parts.id,
            path_id: parts.path_id,
            user_id: parts.user_id,
            status: parts.status,
            position: parts.position,
            current_course: parts.current_course,
            enrolled_at: parts.enrolled_at,
            completed_at: parts.completed_at,
            dropped_at: parts.dropped_at,
            drop_reason: parts.drop_reason,
            updated_at: parts.updated_at,
            version: parts.version,
        }
    }

    /// Moves past `completed` when it is the current course of an active enrollment: the next
    /// of `courses` (the path's list) becomes current, or, after the last, the path is
    /// completed. Anything else (another course, an enrollment no longer active) changes
    /// nothing and returns `None`, which is what makes a replayed completion harmless.
    pub(crate) fn advance_past(
        &mut self,
        completed: CourseId,
        courses: &[CourseId],
        now: DateTime<Utc>,
    ) -> Option<Step> {
        if self.status != PathEnrollmentStatus::Active || self.current_course != Some(completed) {
            return None;
        }
        self.position += 1;
        self.updated_at = now;
        match courses.get(self.position) {
            Some(next) => {
                self.current_course = Some(*next);
                Some(Step::Unlocked(*next))
            }
            None => {
                self.status = PathEnrollmentStatus::Completed;
                self.current_course = None;
                self.completed_at = Some(now);
                Some(Step::Completed)
            }
        }
    }

    /// `active → dropped`, keeping where the learner was.
    pub(crate) fn drop_out(&mut self, reason: Option<DropReason>, now: DateTime<Utc>) -> Result<(), InvalidTransition> {
        self.status = self.status.drop_out()?;
        self.dropped_at = Some(now);
        self.drop_reason = reason;
        self.updated_at = now;
        Ok(())
    }

    /// After a successful save.
    pub(crate) fn saved(&mut self) {
        self.version += 1;
    }

    /// The path enrollment's id.
    pub fn id(&self) -> PathEnrollmentId {
        self.id
    }

    /// The path.
    pub fn path_id(&self) -> LearningPathId {
        self.path_id
    }

    /// The learner.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// Active, completed or dropped.
    pub fn status(&self) -> PathEnrollmentStatus {
        self.status
    }

    /// The index (from 0) of the current course in the path's list; once completed, the
    /// number of courses.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The course the learner is on (the last unlocked one); `None` once the path is completed.
    /// A dropped enrollment keeps the course it was on.
    pub fn current_course(&self) -> Option<CourseId> {
        self.current_course
    }

    /// When the learner enrolled in the path.
    pub fn enrolled_at(&self) -> DateTime<Utc> {
        self.enrolled_at
    }

    /// When they completed the path's last course.
    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at
    }

    /// When they left the path.
    pub fn dropped_at(&self) -> Option<DateTime<Utc>> {
        self.dropped_at
    }

    /// Why they left, if they said.
    pub fn drop_reason(&self) -> Option<&DropReason> {
        self.drop_reason.as_ref()
    }

    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    pub(crate) fn version(&self) -> i64 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::super::path::PathParts;
    use super::super::status::PathStatus;
    use super::*;

    fn path(status: PathStatus, courses: Vec<CourseId>) -> LearningPath {
        let now = Utc::now();
        LearningPath::from_parts(PathParts {
            id: LearningPathId::new(),
            owner_id: UserId::new(),
            title: super::super::path::PathTitle::parse("Jalur Rust").unwrap(),
            description: String::new(),
            status,
            courses,
            published_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
        })
    }

    fn three() -> Vec<CourseId> {
        vec![CourseId::new(), CourseId::new(), CourseId::new()]
    }

    #[test]
    fn enrolling_starts_on_the_first_course() {
        let courses = three();
        let enrollment =
            PathEnrollment::start(&path(PathStatus::Published, courses.clone()), UserId::new(), Utc::now()).unwrap();
        assert_eq!(enrollment.status(), PathEnrollmentStatus::Active);
        assert_eq!(enrollment.current_course(), Some(courses[0]));
        assert_eq!(enrollment.position(), 0);
    }

    #[test]
    fn a_draft_path_takes_no_learners() {
        let err = PathEnrollment::start(&path(PathStatus::Draft, three()), UserId::new(), Utc::now()).unwrap_err();
        assert!(matches!(
            err,
            PathError::PathNotPublished {
                status: PathStatus::Draft,
                ..
            }
        ));
    }

    #[test]
    fn completing_the_current_course_unlocks_the_next_in_order() {
        let courses = three();
        let mut e =
            PathEnrollment::start(&path(PathStatus::Published, courses.clone()), UserId::new(), Utc::now()).unwrap();

        assert_eq!(
            e.advance_past(courses[0], &courses, Utc::now()),
            Some(Step::Unlocked(courses[1]))
        );
        assert_eq!((e.position(), e.current_course()), (1, Some(courses[1])));
        assert_eq!(
            e.advance_past(courses[1], &courses, Utc::now()),
            Some(Step::Unlocked(courses[2]))
        );
        assert_eq!(e.status(), PathEnrollmentStatus::Active);
    }

    #[test]
    fn completing_the_last_course_completes_the_path_once() {
        let courses = three();
        let mut e =
            PathEnrollment::start(&path(PathStatus::Published, courses.clone()), UserId::new(), Utc::now()).unwrap();
        for course in &courses[..2] {
            e.advance_past(*course, &courses, Utc::now()).unwrap();
        }
        let now = Utc::now();

        assert_eq!(e.advance_past(courses[2], &courses, now), Some(Step::Completed));
        assert_eq!(e.status(), PathEnrollmentStatus::Completed);
        assert_eq!(e.completed_at(), Some(now));
        assert_eq!(e.current_course(), None);
        assert_eq!(e.position(), 3);
        assert_eq!(e.advance_past(courses[2], &courses, Utc::now()), None);
    }

    #[test]
    fn completing_a_course_that_is_not_the_current_one_changes_nothing() {
        let courses = three();
        let mut e =
            PathEnrollment::start(&path(PathStatus::Published, courses.clone()), UserId::new(), Utc::now()).unwrap();
        let before = e.clone();

        assert_eq!(e.advance_past(courses[1], &courses, Utc::now()), None);
        assert_eq!(e.advance_past(CourseId::new(), &courses, Utc::now()), None);
        assert_eq!(e, before);
        // A replay of the first completion after advancing also changes nothing.
        e.advance_past(courses[0], &courses, Utc::now()).unwrap();
        let advanced = e.clone();
        assert_eq!(e.advance_past(courses[0], &courses, Utc::now()), None);
        assert_eq!(e, advanced);
    }

    #[test]
    fn a_dropped_enrollment_does_not_advance_and_cannot_be_dropped_again() {
        let courses = three();
        let mut e =
            PathEnrollment::start(&path(PathStatus::Published, courses.clone()), UserId::new(), Utc::now()).unwrap();
        let reason = DropReason::parse(" terlalu sibuk ").unwrap();
        e.drop_out(reason, Utc::now()).unwrap();
        assert_eq!(e.status(), PathEnrollmentStatus::Dropped);
        assert_eq!(e.drop_reason().map(DropReason::as_str), Some("terlalu sibuk"));
        assert_eq!(e.current_course(), Some(courses[0]));

        assert_eq!(e.advance_past(courses[0], &courses, Utc::now()), None);
        assert_eq!(
            e.drop_out(None, Utc::now()),
            Err(InvalidTransition {
                from: PathEnrollmentStatus::Dropped,
                to: PathEnrollmentStatus::Dropped
            })
        );
    }

    #[test]
    fn a_blank_reason_is_none_and_a_long_one_is_refused() {
        assert_eq!(DropReason::parse("  ").unwrap(), None);
        assert!(matches!(
            DropReason::parse(&"x".repeat(501)),
            Err(PathError::ReasonTooLong { max: 500 })
        ));
    }
}
