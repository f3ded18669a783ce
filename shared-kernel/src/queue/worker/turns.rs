//! Which idle slot of a worker claims after a commit. A commit wakes every idle slot, but one
//! claim begun after the commit sees all of its jobs; the other slots would each run an empty
//! claim (a write transaction, on SQLite under the file's one write lock, and on PostgreSQL a
//! round trip that competes with the commits themselves). So a slot woken by a commit claims
//! only when no claim of this worker began after every wake-up signalled so far; a claim that
//! comes back full relays to one more idle slot, since more jobs may be ready.
//!
//! Nothing waits longer for it: the covering claim's slot registered for wake-ups before it
//! claimed, so a commit after that claim began wakes it (or it claims again after its batch
//! anyway), and the slot that stood aside is registered again before it decides to.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::db::commit_watch::Wake;

#[derive(Debug, Default)]
pub(super) struct Turns {
    relay: Notify,
    /// The latest wake-up round a claim of this worker began after.
    claimed_after: AtomicU64,
}

impl Turns {
    /// Stamps a claim about to begin (before its statement is sent): it sees every commit
    /// signalled up to now.
    pub(super) fn claiming(&self, wake: &Wake) {
        self.claimed_after.fetch_max(wake.round(), Ordering::SeqCst);
    }

    /// Whether a slot woken by a commit may stand aside: a claim of this worker began after
    /// every wake-up signalled so far.
    pub(super) fn covered(&self, wake: &Wake) -> bool {
        self.claimed_after.load(Ordering::SeqCst) >= wake.round()
    }

    /// A claim came back full: wake one more idle slot (or the next to wait) to claim.
    pub(super) fn relay(&self) {
        self.relay.notify_one();
    }

    /// Completes when another slot relays.
    pub(super) fn relayed(&self) -> Notified<'_> {
        self.relay.notified()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_stands_aside_only_for_a_claim_begun_after_every_wake_up() {
        let (wake, turns) = (Wake::default(), Turns::default());
        wake.signal();
        assert!(!turns.covered(&wake), "no claim began after the commit");
        turns.claiming(&wake);
        assert!(turns.covered(&wake), "a claim began after the only commit");
        wake.signal();
        assert!(!turns.covered(&wake), "a commit came after that claim began");
        // A slot stamping an older round (it read the round before the other) lowers nothing.
        turns.claimed_after.fetch_max(0, Ordering::SeqCst);
        turns.claiming(&wake);
        assert!(turns.covered(&wake));
    }
}
