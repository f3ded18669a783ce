//! Watching for commits of other processes (other nodes on PostgreSQL, other `queue work` or
//! `serve` processes on one SQLite file): idle workers wait for new jobs with it, and `serve`'s
//! broadcast tailer for new broadcasts. A commit in this process wakes them through the bus
//! already. Polling stays the safety net whenever a watch is down.
//!
//! * PostgreSQL: right after a commit that wrote jobs or broadcasts, `NOTIFY` on the topic's
//!   channel ([`notify_committed`](super::notify_committed)); the watch `LISTEN`s on a
//!   connection of its own and wakes its waiters when a notification it wants arrives. A lost
//!   listener connection is logged and made again with backoff; waiters are woken after every
//!   reconnection, since notifications sent meanwhile are lost.
//! * SQLite: while someone waits (`active` > 0), a thread of the watch reads `PRAGMA
//!   data_version` on a read-only connection of its own every millisecond (`sqlite_native`, a
//!   few microseconds each, without sqlx's worker thread); it changes when any other connection
//!   commits, and only then are the waiters woken to read again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use super::sqlite_native::DataVersion;
use super::{Backend, Database};

/// How often an idle worker on SQLite looks for commits of other processes: reading the data
/// version on the watch's own connection costs microseconds and no other thread.
const SQLITE_WATCH_INTERVAL: Duration = Duration::from_millis(1);

/// How long a watch waits for its first listener connection before it starts without it.
const FIRST_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The first and the longest wait before making a lost connection again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(BACKOFF.1)
}

/// Wakes who waits for commits (idle worker slots, the broadcast tailer), and counts the
/// wake-ups: a worker slot woken by a commit may leave the claim to another slot whose claim
/// began after every wake-up so far (`queue::worker::turns`).
#[derive(Debug, Default)]
pub(crate) struct Wake {
    notify: Notify,
    rounds: AtomicU64,
}

impl Wake {
    /// Wakes every waiter; call it after the commit (or the commit of another process seen).
    pub(crate) fn signal(&self) {
        self.rounds.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Completes at the next [`signal`](Self::signal) once enabled (or polled).
    pub(crate) fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }

    /// How many wake-ups were signalled so far.
    pub(crate) fn round(&self) -> u64 {
        self.rounds.load(Ordering::SeqCst)
    }
}

/// What a watch waits for: a PostgreSQL notification channel and which payloads on it matter.
#[derive(Clone)]
pub(crate) struct Topic {
    /// The channel `LISTEN`ed to.
    pub(crate) channel: &'static str,
    /// Whether a notification's payload concerns this watch (e.g. one of a worker's queues).
    pub(crate) wanted: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    /// What the log calls it ("new jobs", "new broadcasts").
    pub(crate) what: &'static str,
}

/// The watch's task (PostgreSQL) or thread (SQLite); stops when dropped.
#[derive(Default)]
pub(crate) struct Watch {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        self.stop.store(true, Ordering::Release);
    }
}

/// Starts watching for commits of other processes that concern `topic`; wakes `wake`'s waiters
/// when one is seen. `active` counts who is waiting (SQLite looks only while someone is).
/// The first connection is made before this returns (so a first read cannot miss a commit the
/// watch would have seen); if it fails, the watch keeps trying in the background.
pub(crate) async fn start(db: &Database, topic: Topic, wake: Arc<Wake>, active: Arc<AtomicUsize>) -> Watch {
    match db.backend() {
        Backend::Postgres => {
            let url = db.connect_url().to_owned();
            // A server that does not answer (rather than refusing) must not hold the worker up:
            // it polls meanwhile, and the watch keeps trying in the background.
            let first = match tokio::time::timeout(FIRST_CONNECTION_TIMEOUT, listen(&url, topic.channel)).await {
                Ok(first) => first,
                Err(_) => Err(sqlx::Error::PoolTimedOut),
            };
            Watch {
                task: Some(tokio::spawn(listen_loop(url, topic, first, wake))),
                stop: Arc::default(),
            }
        }
        Backend::Sqlite => {
            // In memory: no other process can commit.
            let Some(file) = db.file.clone() else {
                return Watch::default();
            };
            let first = open_watch(&file);
            let stop = Arc::new(AtomicBool::new(false));
            let watching = stop.clone();
            let spawned = std::thread::Builder::new()
                .name("commit-watch".into())
                .spawn(move || sqlite_thread(file, first, wake, active, watching));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start watching for commits of other processes; polling instead");
            }
            Watch { task: None, stop }
        }
    }
}

async fn listen(url: &str, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

async fn listen_loop(url: String, topic: Topic, first: Result<PgListener, sqlx::Error>, wake: Arc<Wake>) {
    let what = topic.what;
    let mut listener = match first {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for {what}; polling until the database answers");
            None
        }
    };
    let mut backoff = BACKOFF.0;
    loop {
        let Some(current) = listener.as_mut() else {
            tokio::time::sleep(backoff).await;
            match listen(&url, topic.channel).await {
                Ok(made) => {
                    tracing::info!("listening for {what} again");
                    listener = Some(made);
                    backoff = BACKOFF.0;
                    wake.signal();
                }
                Err(e) => {
                    backoff = next_backoff(backoff);
                    tracing::warn!(error = %e, retry_in = ?backoff, "cannot listen for {what}; polling meanwhile");
                }
            }
            continue;
        };
        match current.try_recv().await {
            Ok(Some(notification)) => {
                if (topic.wanted)(notification.payload()) {
                    wake.signal();
                }
            }
            Ok(None) => {
                // sqlx made the connection again and listens anew; what was sent meanwhile is lost.
                tracing::warn!("the connection listening for {what} was lost and made again");
                wake.signal();
            }
            Err(e) => {
                tracing::warn!(error = %e, "the connection listening for {what} was lost; polling until it is back");
                listener = None;
                wake.signal();
            }
        }
    }
}

/// Opens the watch's own connection and reads the version it starts from.
fn open_watch(file: &str) -> Result<(DataVersion, i64), String> {
    let mut conn = DataVersion::open(file)?;
    let version = conn.read()?;
    Ok((conn, version))
}

/// Sleeps `duration` in short naps, returning early (false) once the watch is stopped.
fn nap(duration: Duration, stop: &AtomicBool) -> bool {
    let deadline = std::time::Instant::now() + duration;
    loop {
        if stop.load(Ordering::Acquire) {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
    }
}

/// The SQLite watch's thread: reads the data version every [`SQLITE_WATCH_INTERVAL`] while
/// someone waits, until the watch is dropped.
fn sqlite_thread(
    file: String,
    first: Result<(DataVersion, i64), String>,
    wake: Arc<Wake>,
    active: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut watch = match first {
        Ok(watch) => Some(watch),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch for commits of other processes; polling meanwhile");
            None
        }
    };
    let mut backoff = BACKOFF.0;
    loop {
        let Some((conn, seen)) = watch.as_mut() else {
            if !nap(backoff, &stop) {
                return;
            }
            match open_watch(&file) {
                Ok(made) => {
                    watch = Some(made);
                    backoff = BACKOFF.0;
                    wake.signal();
                }
                Err(e) => {
                    backoff = next_backoff(backoff);
                    tracing::warn!(error = %e, retry_in = ?backoff, "cannot watch for commits of other processes");
                }
            }
            continue;
        };
        if !nap(SQLITE_WATCH_INTERVAL, &stop) {
            return;
        }
        // While nobody waits nothing is read; the first look after someone does sees any
        // commit made meanwhile (the version differs from the last one seen).
        if active.load(Ordering::Acquire) == 0 {
            continue;
        }
        match conn.read() {
            Ok(version) if version != *seen => {
                *seen = version;
                wake.signal();
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "watching for commits of other processes failed; polling meanwhile");
                watch = None;
            }
        }
    }
}
