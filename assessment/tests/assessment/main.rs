//! The assessment context against a real (temporary) SQLite database, through its public API:
//! authoring (instructor only, lesson links), attempts for enrolled learners, automatic and
//! manual grading with their events, audit rows and broadcast, the time limit, the grading
//! queue, the learner's notification drained by a real worker, and every refusal leaving no row
//! and no event.

mod attempts;
mod authoring;
mod grading;
mod notification;
mod postgres;
mod submitting;
mod support;
