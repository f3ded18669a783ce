//! Waking idle workers when another process commits jobs. A commit in this process wakes them
//! through the bus already; this is for commits of other processes (other nodes on PostgreSQL,
//! other `queue work` or `serve` processes on one SQLite file). The poll interval stays the
//! safety net whenever this watch is down.
//!
//! * PostgreSQL: right after a commit that wrote jobs, `NOTIFY` on [`JOBS_CHANNEL`] (one per
//!   transaction and queue); the worker `LISTEN`s on a connection of its own and wakes its idle
//!   slots when a notification for one of its queues arrives. A lost listener connection is
//!   logged and made again with backoff; idle slots are woken after every reconnection, since
//!   notifications sent meanwhile are lost.
//! * SQLite: while a slot is idle, `PRAGMA data_version` on a read-only connection of its own is
//!   checked every few milliseconds; it changes when any other connection commits, and only then
//!   are the idle slots woken to run the claim query again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::Notify;

use crate::db::{Backend, Database, JOBS_CHANNEL};

/// How often an idle worker on SQLite looks for commits of other processes.
const SQLITE_WATCH_INTERVAL: Duration = Duration::from_millis(5);

/// How long a worker waits for its first listener connection before it starts without it.
const FIRST_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The first and the longest wait before making a lost connection again.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(BACKOFF.1)
}

/// The watch's task; stops when dropped.
pub(super) struct Watch(tokio::task::JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts watching for commits of other processes that concern `queues`; wakes `wake`'s waiters
/// when one is seen. `idle` counts the slots waiting for work (SQLite looks only while one is).
/// The first connection is made before this returns (so a slot's first claim cannot miss a
/// commit the watch would have seen); if it fails, the watch keeps trying in the background.
pub(super) async fn start(db: &Database, queues: &[String], wake: Arc<Notify>, idle: Arc<AtomicUsize>) -> Watch {
    match db.backend() {
        Backend::Postgres => {
            let url = db.connect_url().to_owned();
            let queues = queues.to_vec();
            // A server that does not answer (rather than refusing) must not hold the worker up:
            // it polls meanwhile, and the watch keeps trying in the background.
            let first = match tokio::time::timeout(FIRST_CONNECTION_TIMEOUT, listen(&url)).await {
                Ok(first) => first,
                Err(_) => Err(sqlx::Error::PoolTimedOut),
            };
            Watch(tokio::spawn(listen_loop(url, queues, first, wake)))
        }
        Backend::Sqlite => {
            let db = db.clone();
            let first = watch_connection(&db).await;
            Watch(tokio::spawn(sqlite_loop(db, first, wake, idle)))
        }
    }
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(JOBS_CHANNEL).await?;
    Ok(listener)
}

async fn listen_loop(url: String, queues: Vec<String>, first: Result<PgListener, sqlx::Error>, wake: Arc<Notify>) {
    let mut listener = match first {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for new jobs; polling until the database answers");
            None
        }
    };
    let mut backoff = BACKOFF.0;
    loop {
        let Some(current) = listener.as_mut() else {
            tokio::time::sleep(backoff).await;
            match listen(&url).await {
                Ok(made) => {
                    tracing::info!("listening for new jobs again");
                    listener = Some(made);
                    backoff = BACKOFF.0;
                    wake.notify_waiters();
                }
                Err(e) => {
                    backoff = next_backoff(backoff);
                    tracing::warn!(error = %e, retry_in = ?backoff, "cannot listen for new jobs; polling meanwhile");
                }
            }
            continue;
        };
        match current.try_recv().await {
            Ok(Some(notification)) => {
                if queues.iter().any(|q| q == notification.payload()) {
                    wake.notify_waiters();
                }
            }
            Ok(None) => {
                // sqlx made the connection again and listens anew; what was sent meanwhile is lost.
                tracing::warn!("the connection listening for new jobs was lost and made again");
                wake.notify_waiters();
            }
            Err(e) => {
                tracing::warn!(error = %e, "the connection listening for new jobs was lost; polling until it is back");
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
    idle: Arc<AtomicUsize>,
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
        // While every slot is busy nothing is read; the first look after a slot goes idle sees
        // any commit made meanwhile (the version differs from the last one seen).
        if idle.load(Ordering::Acquire) == 0 {
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
