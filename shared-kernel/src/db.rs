//! The database handle: a connection pool over sqlx's `Any` driver, so the same repository code
//! serves the embedded SQLite default and PostgreSQL. SQL is written portably (`$1` placeholders,
//! TEXT ids and timestamps, BIGINT numbers); what must differ per backend lives in [`Backend`].

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Transaction};

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
    /// (`BEGIN IMMEDIATE`) so two writers never deadlock upgrading a read lock.
    pub(crate) fn begin_write(self) -> &'static str {
        match self {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
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

/// Errors opening or migrating the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no supported backend. Fix `DATABASE_URL`.
    #[error("unsupported database URL `{0}`: expected sqlite:… or postgres://…")]
    UnsupportedUrl(String),
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
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed; the database is left at the last migration that succeeded.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// The most connections the pool opens. `None` picks the backend's default: 1 for SQLite
    /// (the engine serializes writers anyway, and a single connection never waits on the busy
    /// handler), 10 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// How long a caller waits for a free connection before an error.
    pub acquire_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// A connection pool and the backend it talks to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Connects with default options. A SQLite file (and its folder) is created if missing and
    /// put in WAL mode.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        Self::connect_with(url, DbOptions::default()).await
    }

    /// Connects with explicit pool options.
    #[tracing::instrument(name = "connect to the database", skip(options))]
    pub async fn connect_with(url: &str, options: DbOptions) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        let max = options.max_connections.unwrap_or(match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 10,
        });
        let connect_options = AnyConnectOptions::from_str(&url).map_err(DbError::Connect)?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(options.acquire_timeout);
        if backend == Backend::Sqlite {
            // An embedded connection cannot be lost the way a network one can, so the ping sqlx
            // sends before handing out a pooled connection would only add a round trip to the
            // connection's worker thread on every command and read.
            pool_options = pool_options.test_before_acquire(false);
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::raw_sql(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(connect_options)
            .await
            .map_err(DbError::Connect)?;
        Ok(Self { pool, backend })
    }

    /// The pool, for reads outside a unit of work.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies every crate's migrations, in the order given (the kernel's first).
    #[tracing::instrument(name = "apply migrations", skip_all)]
    pub async fn migrate(&self, migrators: &[Migrator]) -> Result<(), DbError> {
        for migrator in migrators {
            migrator.run(&self.pool).await.map_err(DbError::Migrate)?;
        }
        Ok(())
    }

    /// Opens a write transaction (see [`Backend::begin_write`]).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.pool.begin_with(self.backend.begin_write()).await
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
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

fn normalize_url(url: &str) -> Result<(Backend, String), DbError> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.trim_start_matches("//");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| path != ":memory:" && !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let query = if query.contains("mode=") {
            query.to_owned()
        } else if query.is_empty() {
            "mode=rwc".to_owned()
        } else {
            format!("{query}&mode=rwc")
        };
        Ok((Backend::Sqlite, format!("sqlite://{path}?{query}")))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Backend::Postgres, url.to_owned()))
    } else {
        Err(DbError::UnsupportedUrl(url.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_gets_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}/a/b.db", dir.path().display());
        let (backend, normalized) = normalize_url(&url).unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert!(normalized.ends_with("b.db?mode=rwc"));
        assert!(dir.path().join("a").is_dir());
    }

    #[test]
    fn an_unknown_scheme_is_rejected_by_name() {
        let err = normalize_url("mysql://x").unwrap_err();
        assert!(matches!(err, DbError::UnsupportedUrl(u) if u == "mysql://x"));
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
}
