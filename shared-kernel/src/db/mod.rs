//! The database handle over sqlx's `Any` driver, so the same repository code serves the embedded
//! SQLite default and PostgreSQL. SQL is written portably (`$1` placeholders, TEXT ids and
//! timestamps, BIGINT numbers); what must differ per backend lives in [`Backend`].
//!
//! Two pools: [`Database::writer`] for write transactions and [`Database::pool`] for reads. On
//! SQLite the writer is one connection (the engine has one writer at a time anyway) and the
//! readers are several read-only WAL connections, so a read never waits for a write transaction
//! (WAL readers see the last commit) and a write through a reader fails loudly. On PostgreSQL
//! both are the same pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Connection, Transaction};

pub(crate) mod commit_watch;
mod sqlite_native;
mod url;

use url::Target;
pub use url::{redact_secrets, redact_url};

/// Which database engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite: one file, WAL mode. Writers are serialized by the engine.
    Sqlite,
    /// PostgreSQL: several app and worker nodes sharing one database.
    Postgres,
}

impl Backend {
    /// The statement that opens a write transaction. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so two writers never deadlock upgrading a read lock: its writers are
    /// serial, so every transaction is serializable. PostgreSQL runs write transactions at
    /// SERIALIZABLE, so a command whose rule depends on rows it read is correct under concurrent
    /// writers; a conflict aborts one of them with a serialization failure, which
    /// [`EventBus::retrying`](crate::EventBus::retrying) and the worker retry.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        }
    }

    /// The queue's time as SQL, in microseconds since the Unix epoch, from the bound parameter
    /// `$n`. On SQLite (one machine) `$n` is the time itself, from the kernel's clock. On
    /// PostgreSQL several nodes share the queue, so their clocks must not matter: the time is the
    /// database's (`statement_timestamp()`, stable within a statement so the indexes still
    /// serve it) plus `$n`, an offset (see [`Clock::database_offset`](crate::Clock::database_offset)).
    pub(crate) fn queue_time(self, n: usize) -> String {
        self.queue_time_plus(&format!("${n}"))
    }

    /// [`Backend::queue_time`] with `value` (an SQL expression) in place of the parameter.
    pub(crate) fn queue_time_plus(self, value: &str) -> String {
        match self {
            Backend::Sqlite => value.to_owned(),
            Backend::Postgres => {
                format!("(CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000 AS BIGINT) + {value})")
            }
        }
    }

    /// The row-locking suffix for claiming jobs: SQLite serializes writers already, PostgreSQL
    /// lets concurrent workers skip rows another worker holds.
    pub(crate) fn skip_locked(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// The PostgreSQL channel on which a commit that wrote jobs notifies idle workers; the payload
/// is the queue's name.
pub(crate) const JOBS_CHANNEL: &str = "enteraksi_jobs";

/// The PostgreSQL channel on which a commit that wrote broadcasts wakes the broadcast tailers of
/// every `serve` process.
pub(crate) const BROADCASTS_CHANNEL: &str = "enteraksi_broadcasts";

/// On PostgreSQL, notifies [`JOBS_CHANNEL`] once per distinct queue in `queues` and, when
/// `broadcasts`, [`BROADCASTS_CHANNEL`] once, in one autocommit statement; call it right after
/// the commit that wrote them. Does nothing on SQLite or when there is nothing to tell. A
/// failure is logged, not returned: the rows are committed, and polling finds them.
///
/// Not inside the transaction: a transaction that notifies holds PostgreSQL's global notify lock
/// from before its commit record until the commit ends, so every such commit waits for the
/// previous one's WAL flush (measured with pgbench, 8 clients: 505 commits/s instead of 1,900;
/// with the notification right after the commit, 1,790). Sent after the commit, it still goes
/// out only for committed rows; a process dying in between leaves them to the polling.
pub(crate) async fn notify_committed<'q>(db: &Database, queues: impl IntoIterator<Item = &'q str>, broadcasts: bool) {
    if db.backend() != Backend::Postgres {
        return;
    }
    let mut distinct: Vec<&str> = Vec::new();
    for queue in queues {
        if !distinct.contains(&queue) {
            distinct.push(queue);
        }
    }
    if distinct.is_empty() && !broadcasts {
        return;
    }
    let mut values: Vec<String> = (1..=distinct.len())
        .map(|i| format!("('{JOBS_CHANNEL}', ${i})"))
        .collect();
    if broadcasts {
        values.push(format!("('{BROADCASTS_CHANNEL}', '')"));
    }
    // `pg_notify` returns `void`, a type the Any driver cannot decode: count the calls instead.
    let sql = format!(
        "SELECT COUNT(pg_notify(c, p)) FROM (VALUES {}) AS n (c, p)",
        values.join(", ")
    );
    let mut query = sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql));
    for queue in distinct {
        query = query.bind(queue.to_owned());
    }
    if let Err(e) = query.fetch_one(db.writer()).await {
        tracing::warn!(error = %e, "notifying other processes of new jobs or broadcasts failed; they find them when they poll");
    }
}

/// The wait before the `failures`-th attempt after a lost connection: 100 ms, doubling, at
/// most 5 s.
pub(crate) fn reconnect_backoff(failures: u32) -> std::time::Duration {
    let exponent = failures.saturating_sub(1).min(6);
    (std::time::Duration::from_millis(100) * 2u32.pow(exponent)).min(std::time::Duration::from_secs(5))
}

/// Whether `error`, or any error it was caused by, is a database (sqlx) error saying the
/// connection to the database was lost
/// or could not be made (a server restarting, a backend terminated, a network failure, a pool
/// that found no live connection in time): running the same statement or transaction again
/// once the server answers resolves it. Other I/O errors in the chain (a mail server refusing a
/// connection) are not: only sqlx's own errors are looked at.
pub(crate) fn is_connection_lost(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(e) = e.downcast_ref::<sqlx::Error>() {
            match e {
                sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => {
                    return true;
                }
                // Class 08: connection exception; 57P01–57P03: the server is shutting down,
                // crashed, or not accepting connections yet.
                sqlx::Error::Database(db) => {
                    if let Some(code) = db.code()
                        && (code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03"))
                    {
                        return true;
                    }
                }
                _ => {}
            }
        }
        cause = e.source();
    }
    false
}

/// Errors opening or migrating the database. Every URL in them has its password replaced by `***`.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no supported backend. Fix `DATABASE_URL`.
    #[error("unsupported database URL `{}`: expected sqlite:… or postgres://…", redact_url(.0))]
    UnsupportedUrl(String),
    /// The URL could not be parsed.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it (secrets redacted).
        reason: String,
    },
    /// The SQLite file's folder could not be created.
    #[error("cannot create the database folder {path}")]
    CreateDir {
        /// The folder.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be reached or opened.
    #[error("cannot connect to the database at {target}: {reason}")]
    Connect {
        /// `host:port` of a server, or the path of a SQLite file.
        target: String,
        /// Why (connection refused, timed out, authentication failed, not a database …),
        /// secrets redacted.
        reason: String,
    },
    /// A migration failed; the database is left at the last migration that succeeded.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// Another process's migration lock could not be taken.
    #[error("cannot take the migration lock {path}")]
    MigrationLock {
        /// The lock file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// The most connections the pool opens. `None` picks the backend's default: 4 read-only
    /// connections beside the one writer for SQLite, 10 for PostgreSQL (plus up to 4 for the
    /// queue's bookkeeping unless `durable_bookkeeping`, and one per running worker listening
    /// for new jobs), so ten nodes fit in PostgreSQL's default `max_connections = 100`.
    pub max_connections: Option<u32>,
    /// How long a caller waits for a free connection before an error.
    pub acquire_timeout: Duration,
    /// How long connecting may take before it is reported as timed out.
    pub connect_timeout: Duration,
    /// PostgreSQL: wait for the WAL flush of every queue bookkeeping statement (claims, starts,
    /// lease renewals, acknowledgements of jobs that wrote nothing, retries) too. Off by default:
    /// such a statement lost in a *database* crash only lets a job run again or leaves a try
    /// uncounted, while each flush costs a disk sync per job. A job's own transaction (its
    /// writes and its acknowledgement) is always durable.
    pub durable_bookkeeping: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            durable_bookkeeping: false,
        }
    }
}

/// The connection pools and the backend they talk to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Database {
    reader: AnyPool,
    writer: AnyPool,
    bookkeeping: AnyPool,
    backend: Backend,
    /// The SQLite file (for the migration lock), if any.
    file: Option<String>,
    /// The URL sqlx connects with, for the connections a worker holds outside the pools.
    url: SecretUrl,
    /// How many connections the pool serving commands and reads opens at most.
    max_connections: u32,
}

/// A URL whose `Debug` form has its password redacted.
#[derive(Clone)]
struct SecretUrl(String);

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// The default pool size on PostgreSQL: ten nodes fit in the server's default
/// `max_connections = 100` with room for the queue's bookkeeping connections and `psql`.
pub(crate) const DEFAULT_POSTGRES_CONNECTIONS: u32 = 10;

/// The default number of read-only SQLite connections beside the one writer.
pub(crate) const DEFAULT_SQLITE_READERS: u32 = 4;

/// The busy handler comes first (waiting up to 10 s for another process's lock, in short
/// pauses; `sqlite_native`): switching a new file to WAL takes a lock another process starting at
/// the same moment may hold.
const SQLITE_PRAGMAS: &str = "SELECT enteraksi_wait_on_busy(10000); PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

impl Database {
    /// Connects with default options. A SQLite file (and its folder) is created if missing and
    /// put in WAL mode.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with(url, DbOptions::default()).await
    }

    /// Connects with explicit pool options. One connection is opened first, with a timeout, so
    /// an unreachable server or a file that is not a database fails at once with its cause
    /// rather than after the pool's acquire timeout.
    #[tracing::instrument(name = "connect to the database", skip_all, fields(url = %redact_url(url)))]
    pub async fn connect_with(url: &str, options: DbOptions) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let target = Target::parse(url)?;
        if target.backend == Backend::Sqlite {
            sqlite_native::register();
        }
        let connect_options = AnyConnectOptions::from_str(&target.url).map_err(|e| DbError::InvalidUrl {
            url: redact_url(url),
            reason: redact_secrets(&e.to_string()),
        })?;
        probe(&target, &connect_options, options.connect_timeout).await?;
        let pools = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(options.acquire_timeout)
        };
        let connect_error = |e: sqlx::Error| target.connect_error(&e);
        let max_connections = match target.backend {
            Backend::Postgres => options.max_connections.unwrap_or(DEFAULT_POSTGRES_CONNECTIONS),
            Backend::Sqlite => options.max_connections.unwrap_or(DEFAULT_SQLITE_READERS),
        }
        .max(1);
        let (reader, writer, bookkeeping) = match target.backend {
            Backend::Postgres => {
                let pool = pools(max_connections)
                    .connect_with(connect_options.clone())
                    .await
                    .map_err(connect_error)?;
                let bookkeeping = if options.durable_bookkeeping {
                    pool.clone()
                } else {
                    pools(max_connections.clamp(1, 4))
                        .after_connect(|conn, _meta| {
                            Box::pin(async move {
                                sqlx::raw_sql("SET synchronous_commit = off").execute(conn).await?;
                                Ok(())
                            })
                        })
                        .connect_with(connect_options)
                        .await
                        .map_err(connect_error)?
                };
                (pool.clone(), pool, bookkeeping)
            }
            Backend::Sqlite => {
                // An embedded connection cannot be lost the way a network one can, so the ping
                // sqlx sends before handing out a pooled connection would only add a round trip
                // to the connection's worker thread on every command and read.
                let writer = pools(1)
                    .test_before_acquire(false)
                    .after_connect(|conn, _meta| Box::pin(async move { sqlite_setup(conn, false).await }))
                    .connect_with(connect_options.clone())
                    .await
                    .map_err(connect_error)?;
                if target.file.is_none() {
                    // An in-memory database exists once per connection: readers would see
                    // another, empty database.
                    (writer.clone(), writer.clone(), writer)
                } else {
                    let reader = pools(max_connections)
                        .test_before_acquire(false)
                        .after_connect(|conn, _meta| Box::pin(async move { sqlite_setup(conn, true).await }))
                        .connect_with(connect_options)
                        .await
                        .map_err(connect_error)?;
                    // SQLite commits without a disk sync already (`synchronous = NORMAL`).
                    (reader, writer.clone(), writer)
                }
            }
        };
        Ok(Self {
            reader,
            writer,
            bookkeeping,
            backend: target.backend,
            file: target.file,
            url: SecretUrl(target.url),
            max_connections,
        })
    }

    /// How many connections the pool of commands and reads opens at most: on PostgreSQL the one
    /// pool (the queue's bookkeeping has up to 4 more), on SQLite the read-only connections
    /// beside the one writer.
    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// How many worker slots this database serves at once without a slot waiting on another
    /// for a connection. A running job may hold its write transaction and read through the pool
    /// at the same time: on PostgreSQL that is two connections of the pool per slot; on SQLite
    /// slots wait their turn for the one writer, and each may hold a reader meanwhile.
    pub fn max_worker_slots(&self) -> usize {
        let n = self.max_connections as usize;
        match self.backend {
            Backend::Postgres => (n / 2).max(1),
            Backend::Sqlite if self.file.is_none() => 1,
            Backend::Sqlite => n.max(1),
        }
    }

    /// The URL sqlx connects with (password included): for connections held outside the pools.
    pub(crate) fn connect_url(&self) -> &str {
        &self.url.0
    }

    /// The pool for reads outside a unit of work. On SQLite its connections are read-only and
    /// never wait for a write transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.reader
    }

    /// The pool for writes outside a unit of work (the queue's bookkeeping, administrative
    /// statements). On SQLite it is the one writer connection: hold it only for a statement or
    /// a short transaction, and never call anything external while holding it.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// The pool for the queue's own bookkeeping statements (see
    /// [`DbOptions::durable_bookkeeping`]): the writer on SQLite; on PostgreSQL a few connections
    /// that commit without waiting for the WAL flush.
    pub(crate) fn bookkeeping(&self) -> &AnyPool {
        &self.bookkeeping
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every crate's migrations, in the order given (the kernel's first), under a lock so
    /// any number of processes may start at once: on SQLite an exclusive lock on a file beside
    /// the database, on PostgreSQL sqlx's advisory lock per migrator.
    #[tracing::instrument(name = "apply migrations", skip_all)]
    pub async fn migrate(&self, migrators: &[Migrator]) -> Result<(), DbError> {
        let _lock = match &self.file {
            Some(file) => Some(MigrationLock::take(&format!("{file}.migrate-lock")).await?),
            None => None,
        };
        for migrator in migrators {
            migrator.run(&self.writer).await.map_err(DbError::Migrate)?;
        }
        Ok(())
    }

    /// Opens a write transaction (see [`Backend::begin_write`]).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.begin(self.backend.begin_write()).await
    }

    /// Opens a transaction on the writer with `statement`, also when the caller is cancelled
    /// part-way.
    ///
    /// On PostgreSQL the opening runs in a task of its own, which finishes it whatever becomes of
    /// the caller: sqlx counts a transaction as open only once the server has answered its `BEGIN`,
    /// so a caller cancelled between sending `BEGIN` and its answer (a timeout, a client that hung
    /// up) would queue no `ROLLBACK`, and the connection would go back to the pool inside a
    /// transaction — every statement the pool then ran on it outside a transaction of its own (a
    /// claim, an acknowledgement) would stay uncommitted, and be lost with the connection. Finished
    /// in its own task, the opening hands over an open transaction, which rolls back as it drops
    /// when no caller is left to take it. SQLite's driver runs the `BEGIN` on its connection's
    /// thread and already accounts for a caller that went away.
    pub(crate) async fn begin(&self, statement: &'static str) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with(statement).await,
            Backend::Postgres => {
                let pool = self.writer.clone();
                match tokio::spawn(async move { pool.begin_with(statement).await }).await {
                    Ok(opened) => opened,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => Err(sqlx::Error::PoolClosed),
                }
            }
        }
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.bookkeeping.close().await;
        self.writer.close().await;
        self.reader.close().await;
    }
}

async fn sqlite_setup(conn: &mut sqlx::AnyConnection, read_only: bool) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(SQLITE_PRAGMAS).execute(&mut *conn).await?;
    if read_only {
        sqlx::raw_sql("PRAGMA query_only = ON").execute(conn).await?;
    }
    Ok(())
}

/// Opens one connection (and on SQLite sets it up, which reads the file) within `timeout`, so
/// the real cause of a failure is reported at once.
async fn probe(target: &Target, options: &AnyConnectOptions, timeout: Duration) -> Result<(), DbError> {
    let once = async || {
        let mut conn = sqlx::AnyConnection::connect_with(options).await?;
        match target.backend {
            Backend::Sqlite => sqlite_setup(&mut conn, false).await?,
            Backend::Postgres => {
                sqlx::query("SELECT 1").execute(&mut conn).await?;
            }
        }
        conn.close().await
    };
    let attempt = async {
        loop {
            match once().await {
                // Switching a new SQLite file to WAL can answer "database is locked" without
                // waiting on the busy timeout while another process does the same: try again.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("5") => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(target.connect_error(&e)),
        Err(_) => Err(DbError::Connect {
            target: target.display.clone(),
            reason: format!("timed out after {timeout:?}"),
        }),
    }
}

/// An exclusive lock on a file, released when dropped.
struct MigrationLock(#[allow(dead_code)] std::fs::File);

impl MigrationLock {
    async fn take(path: &str) -> Result<Self, DbError> {
        let owned = path.to_owned();
        let io = |source| DbError::MigrationLock {
            path: path.to_owned(),
            source,
        };
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&owned)?;
            file.lock()?;
            Ok(Self(file))
        })
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)
    }
}

/// Makes a crate's migrator tolerate the other crates' versions in the shared
/// `_sqlx_migrations` table. Each crate numbers its migrations in its own range (kernel 1xxx,
/// course 2xxx, enrollment 3xxx, assessment 4xxx, progress 5xxx, learning-path 6xxx).
pub fn shared_migrator(mut migrator: Migrator) -> Migrator {
    migrator.set_ignore_missing(true);
    migrator
}

/// The kernel's own migrations: the audit log, jobs, failed jobs, notifications and users.
pub fn migrator() -> Migrator {
    shared_migrator(sqlx::migrate!("./migrations"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_gets_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}/a/b.db", dir.path().display());
        let target = Target::parse(&url).unwrap();
        assert_eq!(target.backend, Backend::Sqlite);
        assert!(target.url.ends_with("b.db?mode=rwc"));
        assert!(dir.path().join("a").is_dir());
    }

    #[test]
    fn an_unknown_scheme_is_rejected_by_name_without_its_password() {
        let err = Target::parse("postgress://postgres:S3CR3T@db:5432/x").err().unwrap();
        assert!(matches!(err, DbError::UnsupportedUrl(_)));
        let text = err.to_string();
        assert!(!text.contains("S3CR3T"), "{text}");
        assert!(text.contains("postgress://postgres:***@db:5432/x"), "{text}");
    }

    #[test]
    fn passwords_are_redacted_wherever_a_url_appears() {
        assert_eq!(redact_url("postgres://u:pw@h:1/db?x=1"), "postgres://u:***@h:1/db?x=1");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:data/a.db"), "sqlite:data/a.db");
        assert_eq!(
            redact_secrets("bad `smtp://me:p@ss:w0rd@mail:25` and postgres://a:b@c"),
            "bad `smtp://me:***@mail:25` and postgres://a:***@c"
        );
    }

    #[test]
    fn only_database_errors_count_as_a_lost_connection() {
        let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(is_connection_lost(&sqlx::Error::Io(refused())));
        assert!(is_connection_lost(&sqlx::Error::PoolTimedOut));
        // A mail server refusing a connection is the listener's failure, not the database's.
        assert!(!is_connection_lost(&refused()));
        assert!(!is_connection_lost(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn a_postgres_target_names_host_and_port() {
        assert_eq!(
            Target::parse("postgres://u:p@db.internal/x").unwrap().display,
            "db.internal:5432"
        );
        assert_eq!(
            Target::parse("postgresql://u:p@10.0.0.1:6543/x").unwrap().display,
            "10.0.0.1:6543"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_fast_naming_host_port_and_cause() {
        // Nothing listens on port 1.
        let started = std::time::Instant::now();
        let err = Database::connect("postgres://postgres:S3CR3T@127.0.0.1:1/x")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("127.0.0.1:1"), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert!(!text.contains("S3CR3T"), "{text}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_fails_fast_with_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.db");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let err = Database::connect(&format!("sqlite:{}", path.display()))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not a database"), "{text}");
    }

    #[tokio::test]
    async fn a_new_sqlite_file_is_created_in_wal_mode_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}/data/test.db", dir.path().display());
        let db = Database::connect(&url).await.unwrap();
        db.migrate(&[migrator()]).await.unwrap();
        let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(mode.0.to_lowercase(), "wal");
        let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n.0, 0);
    }

    #[tokio::test]
    async fn sqlite_reads_do_not_wait_for_an_open_write_transaction_and_readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::connect(&format!("sqlite:{}/t.db", dir.path().display()))
            .await
            .unwrap();
        db.migrate(&[migrator()]).await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("DELETE FROM jobs").execute(&mut *tx).await.unwrap();
        let read = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM jobs").fetch_one(db.pool()),
        )
        .await
        .expect("a read waited for the write transaction")
        .unwrap();
        assert_eq!(read.0, 0);
        tx.rollback().await.unwrap();
        let err = sqlx::query("DELETE FROM jobs").execute(db.pool()).await.unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
    }

    #[tokio::test]
    async fn processes_starting_at_once_migrate_one_after_another() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}/race.db", dir.path().display());
        let mut starts = Vec::new();
        for _ in 0..4 {
            let url = url.clone();
            starts.push(tokio::spawn(async move {
                let db = Database::connect(&url).await?;
                db.migrate(&[migrator()]).await
            }));
        }
        for start in starts {
            start.await.unwrap().unwrap();
        }
    }
}
