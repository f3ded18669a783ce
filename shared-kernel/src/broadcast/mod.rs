//! Live broadcasting.
//!
//! * The durable path, which clients use: each committed event's broadcast is written to the
//!   broadcast log in the event's own transaction ([`log`]), every `serve` process tails that log
//!   into its [`LiveHub`] ([`Tailer`]), and [`http`] streams it to subscribers over SSE and
//!   WebSocket, resumable by position (`Last-Event-ID`). So an event committed by any process
//!   reaches subscribers on every node, and a client that reconnects misses nothing.
//! * The in-process path, for tests and embedding: the [`Broadcaster`] port, called by the unit of
//!   work after its commit, and [`InProcessHub`]. Neither sees an event that was rolled back.

pub mod channels;
pub mod http;
mod hub;
pub(crate) mod log;

pub use channels::ChannelRule;
pub use hub::{Frame, LiveHub, SUBSCRIBER_BUFFER, Subscription, Tailer};
pub use log::LoggedBroadcast;

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

#[cfg(any(test, feature = "mocks"))]
pub use crate::bus::MockBroadcaster;
pub use crate::bus::{BroadcastMessage, Broadcaster, NullBroadcaster};

/// An in-process hub: subscribers get every message published on their channel after they
/// subscribed. A slow subscriber loses the oldest messages rather than slowing publishers.
#[derive(Debug)]
pub struct InProcessHub {
    capacity: usize,
    channels: Mutex<HashMap<String, broadcast::Sender<BroadcastMessage>>>,
}

impl Default for InProcessHub {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl InProcessHub {
    /// A hub whose subscribers buffer up to `capacity` messages each.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// Subscribes to a channel by address.
    pub fn subscribe(&self, channel: &str) -> broadcast::Receiver<BroadcastMessage> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .entry(channel.to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }
}

impl Broadcaster for InProcessHub {
    fn publish(&self, message: BroadcastMessage) {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = channels.get(&message.channel) {
            // No receiver left is not an error: nobody is watching right now.
            let _ = sender.send(message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EventId;

    fn message(channel: &str) -> BroadcastMessage {
        BroadcastMessage {
            channel: channel.into(),
            event: "course.published".into(),
            event_id: EventId::new(),
            data: serde_json::json!({"course_title": "Rust"}),
        }
    }

    #[tokio::test]
    async fn a_subscriber_receives_messages_of_its_channel_only() {
        let hub = InProcessHub::default();
        let mut courses = hub.subscribe("courses");
        hub.publish(message("other"));
        hub.publish(message("courses"));
        let got = courses.recv().await.unwrap();
        assert_eq!(got.channel, "courses");
        assert!(courses.try_recv().is_err());
    }

    #[test]
    fn publishing_without_subscribers_is_harmless() {
        InProcessHub::default().publish(message("nobody"));
    }
}
