//! The learning-path context against a real (temporary) SQLite database, through its public API,
//! together with the real course and enrollment contexts: building and publishing paths,
//! enrolling (into the first course only), advancing as courses are completed (drained by a real
//! worker), completing and dropping paths, the notifications, and every refusal leaving no row
//! and no event.

mod advancing;
mod building;
mod dropping;
mod enrolling;
mod notifications;
mod postgres;
mod support;
