//! The progress context against a real (temporary) SQLite database, through its public API:
//! lesson completion and its cascade (course progress, enrollment completion, certificate),
//! time spent, partial progress, and every refusal leaving no row and no event. The
//! `RecalculateCourseProgress` listener is also tested alone against a mock of its port.

mod assessments;
mod completing;
mod recalculation;
mod support;
mod time_spent;
