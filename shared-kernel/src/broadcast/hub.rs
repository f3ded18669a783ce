//! The live side of broadcasting in one process: the [`LiveHub`] holding this process's
//! subscribers, fed by the [`Tailer`] reading the broadcast log, and the [`Subscription`] a
//! connection (an SSE stream, a WebSocket) reads from.
//!
//! A subscriber first registers its channels with the hub, then reads what it missed from the
//! log up to the last position given at that moment, then what the hub hands it, skipping what
//! the log already gave. So nothing committed in between is lost or sent twice, whichever of the
//! tailer and the read comes first.
//!
//! A slow subscriber never slows anyone: the hub hands each one messages through a bounded
//! buffer and, when it is full, cuts that subscriber off: its stream ends as soon as it is read
//! again, and the client resumes from its last id, reading what it missed from the log. (A
//! client that reads nothing at all keeps only its idle connection until the operating system
//! gives up on it; the hub holds nothing of it.)

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::log::{self, LoggedBroadcast};
use crate::bus::EventBus;
use crate::db::commit_watch::{self, Topic, Wake};
use crate::db::{BROADCASTS_CHANNEL, Backend, Database};

/// How many messages a subscriber may have waiting before it is dropped as too slow.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// How often the tailer reads the log even when nothing woke it (the safety net).
const TAIL_POLL: Duration = Duration::from_secs(1);

/// This process's live subscribers.
#[derive(Debug)]
pub struct LiveHub {
    state: Mutex<State>,
    capacity: usize,
    subscribers: Arc<AtomicUsize>,
    closing: watch::Sender<bool>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    senders: HashMap<u64, Feed>,
    by_channel: HashMap<String, HashSet<u64>>,
}

/// What the hub holds of a subscriber: its buffer's sending end and the flag that tells it it
/// was cut off.
#[derive(Debug)]
struct Feed {
    sender: mpsc::Sender<Arc<LoggedBroadcast>>,
    cut: Arc<AtomicBool>,
}

impl State {
    /// Stops feeding subscriber `id`; whether it was fed.
    fn remove(&mut self, id: u64, subscribers: &AtomicUsize) -> bool {
        let Some(feed) = self.senders.remove(&id) else {
            return false;
        };
        feed.cut.store(true, Ordering::Release);
        subscribers.store(self.senders.len(), Ordering::Release);
        self.by_channel.retain(|_, ids| {
            ids.remove(&id);
            !ids.is_empty()
        });
        true
    }
}

impl LiveHub {
    /// A hub whose subscribers may each have `capacity` messages waiting.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            capacity: capacity.max(1),
            subscribers: Arc::new(AtomicUsize::new(0)),
            closing: watch::channel(false).0,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new subscription, listening to no channel yet.
    pub fn subscribe(self: &Arc<Self>, db: &Database) -> Subscription {
        let (sender, rx) = mpsc::channel(self.capacity);
        let cut = Arc::new(AtomicBool::new(false));
        let id = {
            let mut state = self.state();
            state.next_id += 1;
            let id = state.next_id;
            state.senders.insert(
                id,
                Feed {
                    sender,
                    cut: cut.clone(),
                },
            );
            self.subscribers.store(state.senders.len(), Ordering::Release);
            id
        };
        Subscription {
            hub: self.clone(),
            db: db.clone(),
            id,
            rx,
            cut,
            closing: self.closing.subscribe(),
            skip_through: HashMap::new(),
            backlog: VecDeque::new(),
            pending: VecDeque::new(),
        }
    }

    /// How many subscriptions the hub feeds (open, and not cut off for falling behind).
    pub fn subscribers(&self) -> usize {
        self.subscribers.load(Ordering::Acquire)
    }

    /// Hands `messages` (in position order) to the subscribers of their channels. A subscriber
    /// whose buffer is full is dropped.
    pub(crate) fn dispatch(&self, messages: &[Arc<LoggedBroadcast>]) {
        let mut state = self.state();
        let mut slow = Vec::new();
        for message in messages {
            let Some(ids) = state.by_channel.get(&message.channel) else {
                continue;
            };
            for id in ids {
                if let Some(feed) = state.senders.get(id)
                    && feed.sender.try_send(message.clone()).is_err()
                {
                    slow.push(*id);
                }
            }
        }
        for id in slow {
            if state.remove(id, &self.subscribers) {
                crate::metrics::broadcast_slow_disconnect();
                tracing::info!(
                    subscriber = id,
                    "a broadcast subscriber fell behind and was disconnected"
                );
            }
        }
    }

    /// Ends every subscription with [`Frame::Closing`] (the server is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A broadcast.
    Message(Arc<LoggedBroadcast>),
    /// The client resumed from a position no longer kept (or unknown): it must reload its
    /// state; messages continue after `position`.
    Reset {
        /// The position the client should take as its last.
        position: i64,
    },
    /// The server is shutting down; the client should reconnect (elsewhere) and resume.
    Closing,
}

struct Backlog {
    channels: Vec<String>,
    after: i64,
    through: i64,
}

/// One connection's view of the broadcasts: register channels with [`Subscription::listen`],
/// then read with [`Subscription::next`]. Dropping it unsubscribes.
pub struct Subscription {
    hub: Arc<LiveHub>,
    db: Database,
    id: u64,
    rx: mpsc::Receiver<Arc<LoggedBroadcast>>,
    /// Set when the hub cut this subscriber off for falling behind.
    cut: Arc<AtomicBool>,
    closing: watch::Receiver<bool>,
    /// Per channel listened to: live messages up to this position were (or will be) read from
    /// the log instead.
    skip_through: HashMap<String, i64>,
    backlog: VecDeque<Backlog>,
    pending: VecDeque<Arc<LoggedBroadcast>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("channels", &self.skip_through.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// Starts listening to `channels` (already authorized). With `since` (a position the client
    /// has), what it missed on them after `since` comes first; if `since` is older than what the
    /// log keeps (or unknown to it), the answer is the position of a [`Frame::Reset`] to send
    /// first, and messages follow from there.
    pub async fn listen(&mut self, channels: &[String], since: Option<i64>) -> Result<Option<i64>, sqlx::Error> {
        let fresh: Vec<String> = channels
            .iter()
            .filter(|c| !self.skip_through.contains_key(*c))
            .cloned()
            .collect();
        {
            let mut state = self.hub.state();
            for channel in &fresh {
                state.by_channel.entry(channel.clone()).or_default().insert(self.id);
            }
        }
        let mut conn = self.db.pool().acquire().await?;
        let (last, pruned_through) = log::bounds(&mut conn).await?;
        for channel in channels {
            self.skip_through.insert(channel.clone(), last);
        }
        match since {
            None => Ok(None),
            Some(since) if since < pruned_through || since > last => Ok(Some(last)),
            Some(since) => {
                self.backlog.push_back(Backlog {
                    channels: channels.to_vec(),
                    after: since,
                    through: last,
                });
                Ok(None)
            }
        }
    }

    /// Stops listening to `channels`.
    pub fn unlisten(&mut self, channels: &[String]) {
        let mut state = self.hub.state();
        for channel in channels {
            self.skip_through.remove(channel);
            if let Some(ids) = state.by_channel.get_mut(channel) {
                ids.remove(&self.id);
                if ids.is_empty() {
                    state.by_channel.remove(channel);
                }
            }
        }
        drop(state);
        self.pending.retain(|m| !channels.contains(&m.channel));
        for backlog in &mut self.backlog {
            backlog.channels.retain(|c| !channels.contains(c));
        }
    }

    /// The next frame: missed messages first, then live ones. `None` once the hub has cut this
    /// subscriber off for falling behind (what it buffered is dropped too: the client resumes
    /// from its last position and reads it from the log).
    pub async fn next(&mut self) -> Result<Option<Frame>, sqlx::Error> {
        loop {
            if self.cut.load(Ordering::Acquire) {
                return Ok(None);
            }
            if let Some(message) = self.pending.pop_front() {
                return Ok(Some(Frame::Message(message)));
            }
            if let Some(backlog) = self.backlog.front_mut() {
                let mut conn = self.db.pool().acquire().await?;
                let page = log::read_channels(&mut conn, &backlog.channels, backlog.after, backlog.through).await?;
                match page.last() {
                    None => {
                        self.backlog.pop_front();
                    }
                    Some(last) => {
                        backlog.after = last.position;
                        self.pending.extend(page);
                    }
                }
                continue;
            }
            if *self.closing.borrow() {
                return Ok(Some(Frame::Closing));
            }
            tokio::select! {
                received = self.rx.recv() => match received {
                    None => return Ok(None),
                    Some(message) => {
                        match self.skip_through.get(&message.channel) {
                            Some(through) if message.position > *through => {
                                return Ok(Some(Frame::Message(message)));
                            }
                            // Read from the log already, or a channel no longer listened to.
                            _ => continue,
                        }
                    }
                },
                _ = self.closing.changed() => return Ok(Some(Frame::Closing)),
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.state().remove(self.id, &self.hub.subscribers);
    }
}

/// Reads the broadcast log as it grows and hands new messages to the hub; stops when dropped.
/// Woken by commits of this process (through the bus), of other processes (`LISTEN` on
/// PostgreSQL, `PRAGMA data_version` on SQLite) and, as a safety net, every second.
#[derive(Debug)]
pub struct Tailer(tokio::task::JoinHandle<()>);

impl Drop for Tailer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Tailer {
    /// Starts tailing the log of `bus`'s database into `hub`, from its current end.
    pub async fn start(bus: &EventBus, hub: Arc<LiveHub>) -> Self {
        let db = bus.db().clone();
        let wake = Arc::new(Wake::default());
        let topic = Topic {
            channel: BROADCASTS_CHANNEL,
            wanted: Arc::new(|_| true),
            what: "new broadcasts",
        };
        let watch = commit_watch::start(&db, topic, wake.clone(), hub.subscribers.clone()).await;
        let local = bus.broadcast_wake().clone();
        // The end of the log now, before this returns: a commit made after `start` is then
        // always after it, so the first read cannot skip it. (Should the database not answer,
        // the first read takes the end then, and subscribers read what they missed themselves.)
        let mut delivered = match log::sequence(&db).await {
            Ok(last) => Some(last),
            Err(e) => {
                tracing::warn!(error = %e, "reading the end of the broadcast log failed; trying again");
                None
            }
        };
        Self(tokio::spawn(async move {
            let _watch = watch;
            let mut failures = 0u32;
            loop {
                let from_others = wake.notified();
                let from_here = local.notified();
                tokio::pin!(from_others, from_here);
                from_others.as_mut().enable();
                from_here.as_mut().enable();
                match tail(&db, &hub, &mut delivered).await {
                    Ok(()) => failures = 0,
                    Err(e) => {
                        failures += 1;
                        let delay = crate::db::reconnect_backoff(failures);
                        tracing::warn!(error = %e, retry_in = ?delay, "reading the broadcast log failed; trying again");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                }
                tokio::select! {
                    _ = from_others => {}
                    _ = from_here => {}
                    _ = tokio::time::sleep(TAIL_POLL) => {}
                }
            }
        }))
    }
}

/// Numbers what is waiting (PostgreSQL) and hands everything after `delivered` to the hub.
async fn tail(db: &Database, hub: &LiveHub, delivered: &mut Option<i64>) -> Result<(), sqlx::Error> {
    if db.backend() == Backend::Postgres || delivered.is_none() {
        let last = log::sequence(db).await?;
        // The first read starts at the end: subscribers read older messages themselves.
        delivered.get_or_insert(last);
    }
    let Some(after) = delivered.as_mut() else {
        return Ok(());
    };
    let mut conn = db.pool().acquire().await?;
    loop {
        let page = log::read_after(&mut conn, *after).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        *after = last.position;
        hub.dispatch(&page);
        if page.len() < usize::try_from(log::PAGE).unwrap_or(usize::MAX) {
            return Ok(());
        }
    }
}
