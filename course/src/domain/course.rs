//! The course aggregate: its details, its lifecycle and its ordered lessons.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use shared_kernel::{CourseId, LessonId, UserId};

use super::lesson::{Lesson, LessonKind};
use super::status::CourseStatus;
use super::title::Title;
use crate::error::CourseError;

/// A course with its lessons in order. Other contexts read it through [`crate::find`]; only
/// this crate's commands change it.
#[derive(Debug, Clone, PartialEq)]
pub struct Course {
    id: CourseId,
    title: Title,
    description: String,
    status: CourseStatus,
    instructor_id: UserId,
    lessons: Vec<Lesson>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
}

/// The stored form of a course, for the repository to rebuild one.
pub(crate) struct CourseParts {
    pub(crate) id: CourseId,
    pub(crate) title: Title,
    pub(crate) description: String,
    pub(crate) status: CourseStatus,
    pub(crate) instructor_id: UserId,
    pub(crate) lessons: Vec<Lesson>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) version: i64,
}

impl Course {
    /// A new draft course without lessons.
    pub(crate) fn create(instructor_id: UserId, title: Title, description: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: CourseId::new(),
            title,
            description: description.trim().to_owned(),
            status: CourseStatus::Draft,
            instructor_id,
            lessons: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    pub(crate) fn from_parts(parts: CourseParts) -> Self {
        let mut lessons = parts.lessons;
        lessons.sort_by_key(Lesson::position);
        Self {
            id: parts.id,
            title: parts.title,
            description: parts.description,
            status: parts.status,
            instructor_id: parts.instructor_id,
            lessons,
            created_at: parts.created_at,
            updated_at: parts.updated_at,
            version: parts.version,
        }
    }

    /// The course's id.
    pub fn id(&self) -> CourseId {
        self.id
    }

    /// Its title.
    pub fn title(&self) -> &Title {
        &self.title
    }

    /// Its description (may be empty).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Where it is in its lifecycle.
    pub fn status(&self) -> CourseStatus {
        self.status
    }

    /// Whether learners can enroll.
    pub fn is_published(&self) -> bool {
        self.status == CourseStatus::Published
    }

    /// The instructor who owns it.
    pub fn instructor_id(&self) -> UserId {
        self.instructor_id
    }

    /// Its lessons, in order.
    pub fn lessons(&self) -> &[Lesson] {
        &self.lessons
    }

    /// One of its lessons.
    pub fn lesson(&self, id: LessonId) -> Option<&Lesson> {
        self.lessons.iter().find(|l| l.id() == id)
    }

    /// When it was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// The version it was loaded at: the repository saves only over this version.
    pub(crate) fn version(&self) -> i64 {
        self.version
    }

    fn ensure_editable(&self) -> Result<(), CourseError> {
        if self.status == CourseStatus::Archived {
            return Err(CourseError::Archived(self.id));
        }
        Ok(())
    }

    /// Replaces the title and description. An archived course no longer changes.
    pub(crate) fn update_details(
        &mut self,
        title: Title,
        description: &str,
        now: DateTime<Utc>,
    ) -> Result<(), CourseError> {
        self.ensure_editable()?;
        self.title = title;
        self.description = description.trim().to_owned();
        self.updated_at = now;
        Ok(())
    }

    /// Appends a lesson at the end and returns it.
    pub(crate) fn add_lesson(
        &mut self,
        title: Title,
        kind: LessonKind,
        now: DateTime<Utc>,
    ) -> Result<&Lesson, CourseError> {
        self.ensure_editable()?;
        let position = next_position(self.lessons.len());
        self.lessons.push(Lesson::new(LessonId::new(), title, kind, position));
        self.updated_at = now;
        Ok(&self.lessons[self.lessons.len() - 1])
    }

    /// Puts the lessons in the given order, which must name every lesson exactly once.
    pub(crate) fn reorder_lessons(&mut self, order: &[LessonId], now: DateTime<Utc>) -> Result<(), CourseError> {
        self.ensure_editable()?;
        let current: HashSet<LessonId> = self.lessons.iter().map(Lesson::id).collect();
        let proposed: HashSet<LessonId> = order.iter().copied().collect();
        if order.len() != self.lessons.len() || proposed.len() != order.len() || proposed != current {
            return Err(CourseError::NotAPermutation {
                course: self.id,
                expected: self.lessons.len(),
            });
        }
        for lesson in &mut self.lessons {
            let index = order.iter().position(|id| *id == lesson.id()).unwrap_or_default();
            lesson.move_to(next_position(index));
        }
        self.lessons.sort_by_key(Lesson::position);
        self.updated_at = now;
        Ok(())
    }

    /// Removes a lesson and closes the gap it leaves. A published course keeps at least one
    /// lesson, since publishing needs one.
    pub(crate) fn remove_lesson(&mut self, lesson: LessonId, now: DateTime<Utc>) -> Result<Lesson, CourseError> {
        self.ensure_editable()?;
        let index = self
            .lessons
            .iter()
            .position(|l| l.id() == lesson)
            .ok_or(CourseError::LessonNotFound {
                course: self.id,
                lesson,
            })?;
        if self.status == CourseStatus::Published && self.lessons.len() == 1 {
            return Err(CourseError::LastLessonOfPublishedCourse(self.id));
        }
        let removed = self.lessons.remove(index);
        for (i, lesson) in self.lessons.iter_mut().enumerate() {
            lesson.move_to(next_position(i));
        }
        self.updated_at = now;
        Ok(removed)
    }

    /// `draft → published`; needs at least one lesson. Returns the previous status.
    pub(crate) fn publish(&mut self, now: DateTime<Utc>) -> Result<CourseStatus, CourseError> {
        let next = self.status.publish()?;
        if self.lessons.is_empty() {
            return Err(CourseError::NoLessons(self.id));
        }
        Ok(self.move_to(next, now))
    }

    /// `published → draft`. Returns the previous status.
    pub(crate) fn unpublish(&mut self, now: DateTime<Utc>) -> Result<CourseStatus, CourseError> {
        let next = self.status.unpublish()?;
        Ok(self.move_to(next, now))
    }

    /// `draft | published → archived`. Returns the previous status.
    pub(crate) fn archive(&mut self, now: DateTime<Utc>) -> Result<CourseStatus, CourseError> {
        let next = self.status.archive()?;
        Ok(self.move_to(next, now))
    }

    fn move_to(&mut self, next: CourseStatus, now: DateTime<Utc>) -> CourseStatus {
        self.updated_at = now;
        std::mem::replace(&mut self.status, next)
    }
}

/// The 1-based position of the lesson at `index`.
fn next_position(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::InvalidTransition;

    fn title(text: &str) -> Title {
        Title::parse(text).unwrap()
    }

    fn draft() -> Course {
        Course::create(UserId::new(), title("Rust Dasar"), "  Belajar Rust.  ", Utc::now())
    }

    fn with_lessons(n: usize) -> Course {
        let mut course = draft();
        for i in 1..=n {
            course
                .add_lesson(title(&format!("Pelajaran {i}")), LessonKind::Content, Utc::now())
                .unwrap();
        }
        course
    }

    fn ids(course: &Course) -> Vec<LessonId> {
        course.lessons().iter().map(Lesson::id).collect()
    }

    #[test]
    fn a_new_course_is_an_empty_draft_with_a_trimmed_description() {
        let course = draft();
        assert_eq!(course.status(), CourseStatus::Draft);
        assert!(course.lessons().is_empty());
        assert_eq!(course.description(), "Belajar Rust.");
    }

    #[test]
    fn lessons_are_appended_at_consecutive_positions() {
        let course = with_lessons(3);
        let positions: Vec<u32> = course.lessons().iter().map(Lesson::position).collect();
        assert_eq!(positions, vec![1, 2, 3]);
    }

    #[test]
    fn publishing_without_lessons_is_refused() {
        let mut course = draft();
        let err = course.publish(Utc::now()).unwrap_err();
        assert!(matches!(err, CourseError::NoLessons(id) if id == course.id()));
        assert_eq!(course.status(), CourseStatus::Draft);
    }

    #[test]
    fn publishing_a_draft_with_a_lesson_returns_the_previous_status() {
        let mut course = with_lessons(1);
        assert_eq!(course.publish(Utc::now()).unwrap(), CourseStatus::Draft);
        assert_eq!(course.status(), CourseStatus::Published);
    }

    #[test]
    fn an_archived_course_cannot_be_published_even_with_lessons() {
        let mut course = with_lessons(1);
        course.archive(Utc::now()).unwrap();
        let err = course.publish(Utc::now()).unwrap_err();
        assert!(matches!(
            err,
            CourseError::InvalidTransition(InvalidTransition {
                from: CourseStatus::Archived,
                to: CourseStatus::Published
            })
        ));
    }

    #[test]
    fn an_archived_course_can_no_longer_be_edited() {
        let mut course = with_lessons(1);
        course.archive(Utc::now()).unwrap();
        assert!(matches!(
            course.update_details(title("Baru"), "", Utc::now()),
            Err(CourseError::Archived(_))
        ));
        assert!(matches!(
            course.add_lesson(title("Baru"), LessonKind::Content, Utc::now()),
            Err(CourseError::Archived(_))
        ));
        assert_eq!(course.title().as_str(), "Rust Dasar");
        assert_eq!(course.lessons().len(), 1);
    }

    #[test]
    fn reordering_with_a_permutation_renumbers_the_lessons() {
        let mut course = with_lessons(3);
        let [a, b, c] = <[LessonId; 3]>::try_from(ids(&course)).unwrap();
        course.reorder_lessons(&[c, a, b], Utc::now()).unwrap();
        assert_eq!(ids(&course), vec![c, a, b]);
        let positions: Vec<u32> = course.lessons().iter().map(Lesson::position).collect();
        assert_eq!(positions, vec![1, 2, 3]);
    }

    #[test]
    fn reordering_with_anything_but_a_permutation_is_refused_and_changes_nothing() {
        let mut course = with_lessons(3);
        let before = ids(&course);
        let [a, b, _] = <[LessonId; 3]>::try_from(before.clone()).unwrap();
        for bad in [
            vec![a, b],
            vec![a, b, b],
            vec![a, b, LessonId::new()],
            vec![a, b, before[2], a],
        ] {
            let err = course.reorder_lessons(&bad, Utc::now()).unwrap_err();
            assert!(
                matches!(err, CourseError::NotAPermutation { expected: 3, .. }),
                "{bad:?}"
            );
        }
        assert_eq!(ids(&course), before);
    }

    #[test]
    fn removing_a_lesson_closes_the_gap() {
        let mut course = with_lessons(3);
        let middle = ids(&course)[1];
        course.remove_lesson(middle, Utc::now()).unwrap();
        let positions: Vec<u32> = course.lessons().iter().map(Lesson::position).collect();
        assert_eq!(positions, vec![1, 2]);
        assert!(course.lesson(middle).is_none());
    }

    #[test]
    fn removing_an_unknown_lesson_is_a_typed_error() {
        let mut course = with_lessons(1);
        let unknown = LessonId::new();
        assert!(matches!(
            course.remove_lesson(unknown, Utc::now()),
            Err(CourseError::LessonNotFound { lesson, .. }) if lesson == unknown
        ));
    }

    #[test]
    fn the_last_lesson_of_a_published_course_stays() {
        let mut course = with_lessons(1);
        course.publish(Utc::now()).unwrap();
        let only = ids(&course)[0];
        assert!(matches!(
            course.remove_lesson(only, Utc::now()),
            Err(CourseError::LastLessonOfPublishedCourse(_))
        ));
        assert_eq!(course.lessons().len(), 1);
    }
}
