//! The progress domain: [`LessonProgress`] and the [`TimeSpent`] of a sitting.

mod lesson_progress;
mod time_spent;

pub use lesson_progress::LessonProgress;
pub(crate) use lesson_progress::LessonProgressParts;
pub use time_spent::{InvalidTimeSpent, TimeSpent};
