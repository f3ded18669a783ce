//! The guarantees of DESIGN.md §3 (the tests of `guarantees.rs`, unchanged) with the jobs of the
//! quick queued listeners sharing transactions, each in a savepoint
//! (`QueuedListener::SHARES_TRANSACTION`): atomic audit and outbox, causality, retries and failed
//! jobs, leases, exactly-once database effects and concurrent workers hold on the batched path.

/// Whether the test listeners' jobs share transactions.
const SHARED: bool = true;

mod common;

include!("guarantees/body.rs");
