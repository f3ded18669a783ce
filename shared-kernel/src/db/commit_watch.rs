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
//! * SQLite: while someone waits (`active` > 0), `PRAGMA data_version` on a read-only connection
//!   of its own is checked every few milliseconds; it changes when any other connection commits,
//!   and only then are the waiters woken to read again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::Notify;

use super::{Backend, Database};

/// How often an idle worker on SQLite looks for commits of other processes.
const SQLITE_WATCH_INTERVAL: Duration = Duration::from_millis(5);

/// How long a watch waits for its first listener connection before it starts without it.
const FIRST_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The first and the longest wait before making a lost connection again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(BACKOFF.1)
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

/// The watch's task; stops when dropped.
pub(crate) struct Watch(tokio::task::JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts watching for commits of other processes that concern `topic`; wakes `wake`'s waiters
/// when one is seen. `active` counts who is waiting (SQLite looks only while someone is).
/// The first connection is made before this returns (so a first read cannot miss a commit the
/// watch would have seen); if it fails, the watch keeps trying in the background.
pub(crate) async fn start(db: &Database, topic: Topic, wake: Arc<Notify>, active: Arc<AtomicUsize>) -> Watch {
    match db.backend() {
        Backend::Postgres => {
            let url = db.connect_url().to_owned();
            // A server that does not answer (rather than refusing) must not hold the worker up:
            // it polls meanwhile, and the watch keeps trying in the background.
            let first = match tokio::time::timeout(FIRST_CONNECTION_TIMEOUT, listen(&url, topic.channel)).await {
                Ok(first) => first,
                Err(_) => Err(sqlx::Error::PoolTimedOut),
            };
            Watch(tokio::spawn(listen_loop(url, topic, first, wake)))
        }
        Backend::Sqlite => {
            let db = db.clone();
            let first = watch_connection(&db).await;
            Watch(tokio::spawn(sqlite_loop(db, first, wake, active)))
        }
    }
}

async fn listen(url: &str, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

async fn listen_loop(url: String, topic: Topic, first: Result<PgListener, sqlx::Error>, wake: Arc<Notify>) {
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
                    wake.notify_waiters();
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
                    wake.notify_waiters();
                }
            }
            Ok(None) => {
                // sqlx made the connection again and listens anew; what was sent meanwhile is lost.
                tracing::warn!("the connection listening for {what} was lost and made again");
                wake.notify_waiters();
            }
            Err(e) => {
                tracing::warn!(error = %e, "the connection listening for {what} was lost; polling until it is back");
                listener = None;
                wake.notify_waiters();
            }
        }
    }
}

async fn watch_connection(db: &Database) -> Result<Option<(sqlx::AnyConnection, i64)>, sqlx::Error> {
    let Some(mut conn) = db.dedicated_sqlite_reader().await? else {
        return Ok(None);
    };
    let version = data_version(&mut conn).await?;
    Ok(Some((conn, version)))
}

async fn data_version(conn: &mut sqlx::AnyConnection) -> Result<i64, sqlx::Error> {
    let (version,): (i64,) = sqlx::query_as("PRAGMA data_version").fetch_one(conn).await?;
    Ok(version)
}

async fn sqlite_loop(
    db: Database,
    first: Result<Option<(sqlx::AnyConnection, i64)>, sqlx::Error>,
    wake: Arc<Notify>,
    active: Arc<AtomicUsize>,
) {
    let mut watch = match first {
        // In memory: no other process can commit.
        Ok(None) => return,
        Ok(Some(watch)) => Some(watch),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch for commits of other processes; polling meanwhile");
            None
        }
    };
    let mut backoff = BACKOFF.0;
    loop {
        let Some((conn, seen)) = watch.as_mut() else {
            tokio::time::sleep(backoff).await;
            match watch_connection(&db).await {
                Ok(made) => {
                    watch = made;
                    backoff = BACKOFF.0;
                    wake.notify_waiters();
                }
                Err(e) => {
                    backoff = next_backoff(backoff);
                    tracing::warn!(error = %e, retry_in = ?backoff, "cannot watch for commits of other processes");
                }
            }
            continue;
        };
        tokio::time::sleep(SQLITE_WATCH_INTERVAL).await;
        // While nobody waits nothing is read; the first look after someone does sees any
        // commit made meanwhile (the version differs from the last one seen).
        if active.load(Ordering::Acquire) == 0 {
            continue;
        }
        match data_version(conn).await {
            Ok(version) if version != *seen => {
                *seen = version;
                wake.notify_waiters();
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "watching for commits of other processes failed; polling meanwhile");
                watch = None;
            }
        }
    }
}
