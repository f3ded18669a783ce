//! The [`Broadcaster`] port: where the unit of work hands each committed event's broadcast in
//! this process (after the commit, never for a rolled-back one). The durable path clients use is
//! the broadcast log ([`broadcast`](crate::broadcast)).

use serde::Serialize;
use serde_json::Value;

use crate::ids::EventId;

/// One message on one channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BroadcastMessage {
    /// The channel address (`courses`, `private-user.{id}`).
    pub channel: String,
    /// The name clients listen for (e.g. `enrollment.created`).
    pub event: String,
    /// The event occurrence it comes from.
    pub event_id: EventId,
    /// The event's public data (its audit metadata).
    pub data: Value,
}

/// Where committed events' broadcasts go. Publishing never blocks and never fails the command:
/// broadcasts are live updates, not records.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Broadcaster: Send + Sync + 'static {
    /// Sends one message to its channel's current subscribers.
    fn publish(&self, message: BroadcastMessage);
}

/// A broadcaster that drops everything (when nothing listens live).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullBroadcaster;

impl Broadcaster for NullBroadcaster {
    fn publish(&self, _message: BroadcastMessage) {}
}
