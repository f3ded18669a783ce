//! The progress context's listeners.

mod recalculate;

pub use recalculate::RecalculateCourseProgress;
