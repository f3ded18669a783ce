//! The progress context's listeners.

mod assessment_lesson;
mod recalculate;

pub use assessment_lesson::CompleteLessonOnPassedAssessment;
pub use recalculate::RecalculateCourseProgress;
