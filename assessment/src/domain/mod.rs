//! The assessment domain: the [`Assessment`] aggregate with its [`Question`]s and settings, and
//! the [`Attempt`] aggregate with its [`Answer`]s.

mod assessment;
mod attempt;
mod question;

pub(crate) use assessment::AssessmentParts;
pub use assessment::{Assessment, MaxAttempts, PassingScore, SettingsError, TimeLimit};
pub(crate) use attempt::AttemptParts;
pub use attempt::{Answer, Attempt, AttemptStatus, Grade, MAX_FEEDBACK_CHARS};
pub use question::{Question, QuestionError, QuestionKind, Response};
