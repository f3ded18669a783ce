//! The learning path aggregate: an ordered list of published courses, put together by its owner
//! as a draft and frozen once published.

use chrono::{DateTime, Utc};
use course::Course;
use shared_kernel::users::Actor;
use shared_kernel::{CourseId, LearningPathId, UserId};

use super::status::PathStatus;
use crate::error::PathError;

/// A learning path's title: trimmed, not blank, at most [`PathTitle::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTitle(String);

impl PathTitle {
    /// The longest title, in characters.
    pub const MAX_CHARS: usize = 200;

    /// A title, or [`PathError::InvalidTitle`].
    pub fn parse(value: &str) -> Result<Self, PathError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(PathError::InvalidTitle {
                reason: "a learning path needs a title",
            });
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(PathError::InvalidTitle {
                reason: "a learning path title can have at most 200 characters",
            });
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A learning path. Other contexts read it through [`crate::find`]; only this crate's commands
/// change it.
#[derive(Debug, Clone, PartialEq)]
pub struct LearningPath {
    id: LearningPathId,
    owner_id: UserId,
    title: PathTitle,
    description: String,
    status: PathStatus,
    courses: Vec<CourseId>,
    published_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

/// The stored form of a path, for the repository to rebuild one.
pub(crate) struct PathParts {
    pub(crate) id: LearningPathId,
    pub(crate) owner_id: UserId,
    pub(crate) title: PathTitle,
    pub(crate) description: String,
    pub(crate) status: PathStatus,
    pub(crate) courses: Vec<CourseId>,
    pub(crate) published_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) version: i64,
}

impl LearningPath {
    /// A new, empty draft owned by `owner`.
    pub(crate) fn create(owner_id: UserId, title: PathTitle, description: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: LearningPathId::new(),
            owner_id,
            title,
            description: description.trim().to_owned(),
            status: PathStatus::Draft,
            courses: Vec::new(),
            published_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    pub(crate) fn from_parts(parts: PathParts) -> Self {
        Self {
            id: parts.id,
            owner_id: parts.owner_id,
            title: parts.title,
            description: parts.description,
            status: parts.status,
            courses: parts.courses,
            published_at: parts.published_at,
            created_at: parts.created_at,
            updated_at: parts.updated_at,
            version: parts.version,
        }
    }

    /// Its owner, or an admin.
    fn ensure_owner(&self, actor: Actor) -> Result<(), PathError> {
        if actor.may_manage(self.owner_id) {
            Ok(())
        } else {
            Err(PathError::NotOwner {
                path: self.id,
                actor: actor.id(),
            })
        }
    }

    fn ensure_draft(&self) -> Result<(), PathError> {
        match self.status {
            PathStatus::Draft => Ok(()),
            PathStatus::Published => Err(PathError::CourseListFrozen(self.id)),
        }
    }

    /// Appends a published course to the draft's list. Only the owner (or an admin) may; a course appears
    /// once per path.
    pub(crate) fn add_course(&mut self, actor: Actor, course: &Course, now: DateTime<Utc>) -> Result<(), PathError> {
        self.ensure_owner(actor)?;
        self.ensure_draft()?;
        if !course.is_published() {
            return Err(PathError::CourseNotPublished {
                course: course.id(),
                status: course.status(),
            });
        }
        if self.courses.contains(&course.id()) {
            return Err(PathError::DuplicateCourse {
                path: self.id,
                course: course.id(),
            });
        }
        self.courses.push(course.id());
        self.updated_at = now;
        Ok(())
    }

    /// Takes a course out of the draft's list; the others keep their order.
    pub(crate) fn remove_course(
        &mut self,
        actor: Actor,
        course: CourseId,
        now: DateTime<Utc>,
    ) -> Result<(), PathError> {
        self.ensure_owner(actor)?;
        self.ensure_draft()?;
        let index = self
            .courses
            .iter()
            .position(|c| *c == course)
            .ok_or(PathError::CourseNotInPath { path: self.id, course })?;
        self.courses.remove(index);
        self.updated_at = now;
        Ok(())
    }

    /// `draft → published`: needs at least one course, and `courses` (the path's courses as
    /// loaded now, in order) must all still be published.
    pub(crate) fn publish(&mut self, actor: Actor, courses: &[Course], now: DateTime<Utc>) -> Result<(), PathError> {
        self.ensure_owner(actor)?;
        if self.status == PathStatus::Published {
            return Err(PathError::AlreadyPublished(self.id));
        }
        if self.courses.is_empty() {
            return Err(PathError::EmptyPath(self.id));
        }
        debug_assert_eq!(courses.len(), self.courses.len(), "every course of the path, loaded");
        if let Some(course) = courses.iter().find(|c| !c.is_published()) {
            return Err(PathError::CourseNotPublished {
                course: course.id(),
                status: course.status(),
            });
        }
        self.status = PathStatus::Published;
        self.published_at = Some(now);
        self.updated_at = now;
        Ok(())
    }

    /// After a successful save.
    pub(crate) fn saved(&mut self) {
        self.version += 1;
    }

    /// The path's id.
    pub fn id(&self) -> LearningPathId {
        self.id
    }

    /// Who put it together (and alone may change it).
    pub fn owner_id(&self) -> UserId {
        self.owner_id
    }

    /// Its title.
    pub fn title(&self) -> &str {
        self.title.as_str()
    }

    /// Its description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Draft or published.
    pub fn status(&self) -> PathStatus {
        self.status
    }

    /// Whether learners can enroll.
    pub fn is_published(&self) -> bool {
        self.status == PathStatus::Published
    }

    /// Its courses, in the order a learner takes them.
    pub fn courses(&self) -> &[CourseId] {
        &self.courses
    }

    /// When it was published.
    pub fn published_at(&self) -> Option<DateTime<Utc>> {
        self.published_at
    }

    /// When it was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
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
    use shared_kernel::users::Role;

    use super::*;

    fn draft(owner: UserId) -> LearningPath {
        LearningPath::create(owner, PathTitle::parse("Jalur Rust").unwrap(), "Dari nol", Utc::now())
    }

    #[test]
    fn a_title_is_trimmed_and_may_be_neither_blank_nor_too_long() {
        assert_eq!(PathTitle::parse("  Jalur Rust ").unwrap().as_str(), "Jalur Rust");
        assert!(matches!(PathTitle::parse("   "), Err(PathError::InvalidTitle { .. })));
        assert!(matches!(
            PathTitle::parse(&"a".repeat(201)),
            Err(PathError::InvalidTitle { .. })
        ));
        assert!(PathTitle::parse(&"a".repeat(200)).is_ok());
    }

    #[test]
    fn a_new_path_is_an_empty_draft() {
        let owner = UserId::new();
        let path = draft(owner);
        assert_eq!(path.status(), PathStatus::Draft);
        assert!(path.courses().is_empty());
        assert_eq!(path.owner_id(), owner);
        assert!(!path.is_published());
    }

    #[test]
    fn an_empty_path_cannot_be_published() {
        let owner = UserId::new();
        let mut path = draft(owner);
        let err = path.publish(owner.into(), &[], Utc::now()).unwrap_err();
        assert!(matches!(err, PathError::EmptyPath(id) if id == path.id()));
        assert_eq!(path.status(), PathStatus::Draft);
    }

    #[test]
    fn removing_a_course_that_is_not_in_the_path_is_refused() {
        let owner = UserId::new();
        let mut path = draft(owner);
        let course = CourseId::new();
        assert!(matches!(
            path.remove_course(owner.into(), course, Utc::now()),
            Err(PathError::CourseNotInPath { course: c, .. }) if c == course
        ));
    }

    #[test]
    fn only_the_owner_changes_a_path() {
        let owner = UserId::new();
        let mut path = draft(owner);
        let stranger = UserId::new();
        assert!(matches!(
            path.remove_course(stranger.into(), CourseId::new(), Utc::now()),
            Err(PathError::NotOwner { actor, .. }) if actor == stranger
        ));
        assert!(matches!(
            path.publish(stranger.into(), &[], Utc::now()),
            Err(PathError::NotOwner { .. })
        ));
    }

    #[test]
    fn an_admin_changes_any_path() {
        let mut path = draft(UserId::new());
        let course = CourseId::new();
        let admin = Actor::new(UserId::new(), Role::Admin);
        let instructor = Actor::new(UserId::new(), Role::Instructor);
        assert!(matches!(
            path.remove_course(instructor, course, Utc::now()),
            Err(PathError::NotOwner { .. })
        ));
        assert!(matches!(
            path.remove_course(admin, course, Utc::now()),
            Err(PathError::CourseNotInPath { .. })
        ));
    }

    #[test]
    fn a_published_paths_course_list_is_frozen() {
        let owner = UserId::new();
        let course = CourseId::new();
        let mut path = LearningPath::from_parts(PathParts {
            status: PathStatus::Published,
            courses: vec![course],
            ..parts_of(draft(owner))
        });
        assert!(matches!(
            path.remove_course(owner.into(), course, Utc::now()),
            Err(PathError::CourseListFrozen(_))
        ));
        assert!(matches!(
            path.publish(owner.into(), &[], Utc::now()),
            Err(PathError::AlreadyPublished(_))
        ));
        assert_eq!(path.courses(), [course]);
    }

    fn parts_of(path: LearningPath) -> PathParts {
        PathParts {
            id: path.id,
            owner_id: path.owner_id,
            title: path.title,
            description: path.description,
            status: path.status,
            courses: path.courses,
            published_at: path.published_at,
            created_at: path.created_at,
            updated_at: path.updated_at,
            version: path.version,
        }
    }
}
