//! The guarantees of DESIGN.md §3, proved against a real (temporary) SQLite database through the
//! public API: atomic audit and outbox, causality, retries and failed jobs, leases, exactly-once
//! database effects of queued listeners, and concurrent workers.
//!
//! Run twice, unchanged: here every job has a transaction of its own; `guarantees_shared.rs`
//! runs the same tests with the jobs of the queued listeners that do quick work (`Deliver`,
//! `Thank`, `WriteLedger`) sharing transactions, each in a savepoint. (`Hang` never shares: a
//! listener that waits must not hold a shared transaction.)

/// Whether the test listeners' jobs share transactions.
const SHARED: bool = false;

mod common;

include!("guarantees/body.rs");
