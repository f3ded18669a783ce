//! A learner's progress through one lesson of their enrollment.

use chrono::{DateTime, Utc};
use enrollment::Percentage;
use shared_kernel::{EnrollmentId, LessonId};

/// How far a learner is through one lesson: a percentage, the time spent on it, and whether
/// (and when) they completed it. Completion is final and sets the percentage to 100.
#[derive(Debug, Clone, PartialEq)]
pub struct LessonProgress {
    enrollment_id: EnrollmentId,
    lesson_id: LessonId,
    percentage: Percentage,
    time_spent_seconds: u64,
    completed_at: Option<DateTime<Utc>>,
    started_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The stored form, for the repository to rebuild one.
pub(crate) struct LessonProgressParts {
    pub(crate) enrollment_id: EnrollmentId,
    pub(crate) lesson_id: LessonId,
    pub(crate) percentage: Percentage,
    pub(crate) time_spent_seconds: u64,
    pub(crate) completed_at: Option<DateTime<Utc>>,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl LessonProgress {
    /// A lesson the learner is only now starting.
    pub(crate) fn start(enrollment_id: EnrollmentId, lesson_id: LessonId, now: DateTime<Utc>) -> Self {
        Self {
            enrollment_id,
            lesson_id,
            percentage: Percentage::ZERO,
            time_spent_seconds: 0,
            completed_at: None,
            started_at: now,
            updated_at: now,
        }
    }

    pub(crate) fn from_parts(parts: LessonProgressParts) -> Self {
        Self {
            enrollment_id: parts.enrollment_id,
            lesson_id: parts.lesson_id,
            percentage: parts.percentage,
            time_spent_seconds: parts.time_spent_seconds,
            completed_at: parts.completed_at,
            started_at: parts.started_at,
            updated_at: parts.updated_at,
        }
    }

    /// The enrollment.
    pub fn enrollment_id(&self) -> EnrollmentId {
        self.enrollment_id
    }

    /// The lesson.
    pub fn lesson_id(&self) -> LessonId {
        self.lesson_id
    }

    /// How much of the lesson is done.
    pub fn percentage(&self) -> Percentage {
        self.percentage
    }

    /// Seconds spent on it, all sittings together. Sittings are added up by the database
    /// (see the repository), so two reports arriving together both count.
    pub fn time_spent_seconds(&self) -> u64 {
        self.time_spent_seconds
    }

    /// Whether the lesson is completed.
    pub fn is_completed(&self) -> bool {
        self.completed_at.is_some()
    }

    /// When it was completed.
    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at
    }

    /// When the learner first touched it.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// Completes the lesson. Returns `false`, changing nothing, if it already was: completing
    /// is idempotent.
    pub(crate) fn complete(&mut self, now: DateTime<Utc>) -> bool {
        if self.is_completed() {
            return false;
        }
        self.completed_at = Some(now);
        self.percentage = Percentage::FULL;
        self.updated_at = now;
        true
    }

    /// Records partial progress. Returns `false`, changing nothing, when the lesson is already
    /// completed (a completed lesson stays at 100 %) or the percentage is unchanged.
    pub(crate) fn update_percentage(&mut self, percentage: Percentage, now: DateTime<Utc>) -> bool {
        if self.is_completed() || self.percentage == percentage {
            return false;
        }
        self.percentage = percentage;
        self.updated_at = now;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> LessonProgress {
        LessonProgress::start(EnrollmentId::new(), LessonId::new(), Utc::now())
    }

    #[test]
    fn a_started_lesson_is_at_zero_with_no_time_spent() {
        let progress = started();
        assert_eq!(progress.percentage(), Percentage::ZERO);
        assert_eq!(progress.time_spent_seconds(), 0);
        assert!(!progress.is_completed());
    }

    #[test]
    fn completing_sets_full_progress_once() {
        let mut progress = started();
        let first = Utc::now();

        assert!(progress.complete(first));
        let after_first = progress.clone();
        assert!(!progress.complete(Utc::now()));

        assert_eq!(progress, after_first);
        assert_eq!(progress.completed_at(), Some(first));
        assert!(progress.percentage().is_full());
    }

    #[test]
    fn partial_progress_moves_until_completion_and_never_lowers_a_completed_lesson() {
        let mut progress = started();
        assert!(progress.update_percentage(Percentage::new(40.0).unwrap(), Utc::now()));
        assert!(!progress.update_percentage(Percentage::new(40.0).unwrap(), Utc::now()));
        progress.complete(Utc::now());

        assert!(!progress.update_percentage(Percentage::new(10.0).unwrap(), Utc::now()));
        assert!(progress.percentage().is_full());
    }
}
