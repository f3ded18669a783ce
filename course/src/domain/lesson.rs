//! A lesson of a course: content to read or watch, or an assessment to pass.

use shared_kernel::{AssessmentId, LessonId};

use super::title::Title;

/// What a lesson is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LessonKind {
    /// Material to read, watch or listen to; completed when the learner says so.
    Content,
    /// An assessment; completed by passing it. The assessment itself is linked once the
    /// assessment context has created it, so a new assessment lesson has none yet.
    Assessment {
        /// The linked assessment, if any yet.
        assessment: Option<AssessmentId>,
    },
}

impl LessonKind {
    /// An assessment lesson with no assessment linked yet.
    pub const fn assessment() -> Self {
        Self::Assessment { assessment: None }
    }

    /// The stored name: `content` or `assessment`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Content => "content",
            Self::Assessment { .. } => "assessment",
        }
    }

    /// The linked assessment of an assessment lesson.
    pub fn assessment_id(self) -> Option<AssessmentId> {
        match self {
            Self::Content => None,
            Self::Assessment { assessment } => assessment,
        }
    }

    /// Rebuilds a kind from its stored columns; `None` for an unknown name or an assessment id
    /// on a content lesson.
    pub(crate) fn from_stored(kind: &str, assessment: Option<AssessmentId>) -> Option<Self> {
        match (kind, assessment) {
            ("content", None) => Some(Self::Content),
            ("assessment", assessment) => Some(Self::Assessment { assessment }),
            _ => None,
        }
    }
}

/// One lesson, at its 1-based position in its course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesson {
    id: LessonId,
    title: Title,
    kind: LessonKind,
    position: u32,
}

impl Lesson {
    pub(crate) fn new(id: LessonId, title: Title, kind: LessonKind, position: u32) -> Self {
        Self {
            id,
            title,
            kind,
            position,
        }
    }

    /// The lesson's id.
    pub fn id(&self) -> LessonId {
        self.id
    }

    /// Its title.
    pub fn title(&self) -> &Title {
        &self.title
    }

    /// Content or assessment.
    pub fn kind(&self) -> LessonKind {
        self.kind
    }

    /// Its place in the course, from 1.
    pub fn position(&self) -> u32 {
        self.position
    }

    pub(crate) fn move_to(&mut self, position: u32) {
        self.position = position;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_round_trips_through_its_stored_columns() {
        let assessment = AssessmentId::new();
        for kind in [
            LessonKind::Content,
            LessonKind::assessment(),
            LessonKind::Assessment {
                assessment: Some(assessment),
            },
        ] {
            assert_eq!(LessonKind::from_stored(kind.as_str(), kind.assessment_id()), Some(kind));
        }
    }

    #[test]
    fn a_content_lesson_cannot_carry_an_assessment() {
        assert_eq!(LessonKind::from_stored("content", Some(AssessmentId::new())), None);
        assert_eq!(LessonKind::from_stored("video", None), None);
    }
}
