//! The enrollment context against a real (temporary) SQLite database, through its public API:
//! the commands and their events, audit rows and broadcasts, the queued listeners
//! (notifications, certificates) drained by a real worker, and every refusal leaving no row and
//! no event. The delayed inactivity reminder also runs on PostgreSQL (its readiness is the
//! database's clock there, offset by the test's clock).

mod certificates;
mod completion;
mod counts;
mod dropping;
mod enrolling;
mod reminder;
mod support;
