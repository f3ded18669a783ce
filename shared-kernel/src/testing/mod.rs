//! Test support, behind the `testing` feature: an event fake recording what committed units of
//! work dispatched, registry assertions, a temporary migrated SQLite database, and a queue
//! drainer. Every context crate's tests use these. [`sse`] is a Server-Sent Events client.

pub mod sse;

use std::sync::{Arc, Mutex};

use sqlx::migrate::Migrator;
use tempfile::TempDir;

use crate::bus::Registry;
use crate::bus::{CommitObserver, EventBus};
use crate::bus::{DomainEvent, Envelope, SharedEnvelope};
use crate::db::{Database, migrator};
use crate::queue::{Worker, WorkerOptions, WorkerReport};

/// Records the events of every committed unit of work (attach it with
/// [`EventBusBuilder::observer`](crate::EventBusBuilder::observer)). Rolled-back units of work
/// never reach it.
#[derive(Debug, Default)]
pub struct EventFake {
    events: Mutex<Vec<SharedEnvelope>>,
}

impl CommitObserver for EventFake {
    fn committed(&self, events: &[SharedEnvelope]) {
        self.lock().extend(events.iter().cloned());
    }
}

impl EventFake {
    /// A new, empty fake.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SharedEnvelope>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every committed event, in commit order.
    pub fn all(&self) -> Vec<SharedEnvelope> {
        self.lock().clone()
    }

    /// The committed events of type `E`.
    pub fn dispatched<E: DomainEvent>(&self) -> Vec<Envelope<E>> {
        self.lock().iter().filter_map(|e| e.downcast::<E>().cloned()).collect()
    }

    /// Forgets everything recorded so far (e.g. after arranging a test's fixtures).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Asserts that at least one `E` matching `predicate` was committed.
    #[track_caller]
    pub fn assert_dispatched<E: DomainEvent>(&self, predicate: impl Fn(&E) -> bool) {
        let all = self.dispatched::<E>();
        assert!(
            all.iter().any(|e| predicate(e.event())),
            "expected a matching `{}` to be dispatched; dispatched {} of them: {:#?}",
            E::NAME,
            all.len(),
            all.iter().map(Envelope::event).collect::<Vec<_>>()
        );
    }

    /// Asserts that exactly `times` events of type `E` were committed.
    #[track_caller]
    pub fn assert_dispatched_times<E: DomainEvent>(&self, times: usize) {
        let n = self.dispatched::<E>().len();
        assert_eq!(
            n,
            times,
            "expected `{}` to be dispatched {times} times, got {n}",
            E::NAME
        );
    }

    /// Asserts that no `E` was committed.
    #[track_caller]
    pub fn assert_not_dispatched<E: DomainEvent>(&self) {
        self.assert_dispatched_times::<E>(0);
    }

    /// Asserts that nothing at all was committed.
    #[track_caller]
    pub fn assert_nothing_dispatched(&self) {
        let names: Vec<&str> = self.lock().iter().map(|e| e.name()).collect();
        assert!(names.is_empty(), "expected nothing dispatched, got {names:?}");
    }
}

/// Asserts that a context's OpenAPI document lists exactly the paths its `routes()` registers
/// (`routes`, in any order): no route undocumented, no documented path left without a route.
#[track_caller]
pub fn assert_documents_exactly(doc: &utoipa::openapi::OpenApi, routes: &[&str]) {
    let mut documented: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
    documented.sort_unstable();
    let mut registered = routes.to_vec();
    registered.sort_unstable();
    assert_eq!(documented, registered);
}

/// Asserts that `listener` is registered for the event `E`.
#[track_caller]
pub fn assert_listening<E: DomainEvent>(registry: &Registry, listener: &str) {
    assert!(
        registry.is_listening(E::NAME, listener),
        "expected `{listener}` to listen to `{}`; registrations: {:#?}",
        E::NAME,
        registry.listing().into_iter().find(|l| l.event == E::NAME)
    );
}

/// The environment variable naming a PostgreSQL server for tests (`.ci/run` sets it).
pub const POSTGRES_URL_VAR: &str = "ENTERAKSI_TEST_POSTGRES_URL";

/// A temporary database with the kernel's and the given crates' migrations applied: a SQLite
/// file (deleted on drop), or a fresh PostgreSQL database (dropped by [`TestDb::cleanup`]).
#[derive(Debug)]
pub struct TestDb {
    db: Database,
    url: String,
    _dir: Option<TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// Creates and migrates a SQLite database. Panics on failure: this is test setup.
    pub async fn new(migrators: Vec<Migrator>) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite:{}", dir.path().join("test.db").display());
        let db = Database::connect(&url).await.expect("open the test database");
        migrate(&db, migrators).await;
        Self {
            db,
            url,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// Creates and migrates a fresh PostgreSQL database on the server named by
    /// [`POSTGRES_URL_VAR`]. Without that variable it prints that the test was not run and
    /// returns `None`, so the caller returns early: such a test never passes silently as if it
    /// had checked something.
    pub async fn postgres(test: &str, migrators: Vec<Migrator>) -> Option<Self> {
        let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
            // Written to the stderr handle directly, not with `eprintln!`, so the test harness
            // does not capture it: the skip is visible in every run.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "NOT RUN: {test} needs PostgreSQL; set {POSTGRES_URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test)"
            );
            return None;
        };
        let name = format!("enteraksi_test_{}", uuid::Uuid::now_v7().simple());
        let admin = Database::connect(&base)
            .await
            .expect("connect to the PostgreSQL test server");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(admin.pool())
            .await
            .expect("create the test database");
        sweep_stale_databases(&admin).await;
        admin.close().await;
        let url = match base.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("{POSTGRES_URL_VAR} must end with /<database>"),
        };
        let db = Database::connect(&url)
            .await
            .expect("open the PostgreSQL test database");
        migrate(&db, migrators).await;
        Some(Self {
            db,
            url,
            _dir: None,
            postgres: Some((base, name)),
        })
    }

    /// The database handle.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The database's URL (to start an application on it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes the pool and drops a PostgreSQL test database (SQLite files go with the value),
    /// ending any connection still open to it (a listener a test's task still holds).
    pub async fn cleanup(self) {
        self.db.close().await;
        if let Some((base, name)) = &self.postgres {
            let admin = Database::connect(base)
                .await
                .expect("connect to the PostgreSQL test server");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(admin.pool())
            .await
            .expect("drop the test database");
            admin.close().await;
        }
    }
}

/// How old a test database must be before a later test run drops it: far longer than any test.
const STALE_TEST_DATABASE_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Drops the test databases that a panicking test left behind (its `cleanup` never ran): those
/// whose UUIDv7 name dates from more than [`STALE_TEST_DATABASE_AGE`] ago, so a test running
/// concurrently keeps its own. Once per test process. Best effort: a failure here is logged,
/// never a test failure.
async fn sweep_stale_databases(admin: &Database) {
    static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SWEPT.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let names: Vec<(String,)> =
        match sqlx::query_as("SELECT datname::text FROM pg_database WHERE datname LIKE 'enteraksi\\_test\\_%'")
            .fetch_all(admin.pool())
            .await
        {
            Ok(names) => names,
            Err(error) => {
                tracing::warn!(%error, "listing stale test databases");
                return;
            }
        };
    let now = std::time::SystemTime::now();
    for (name,) in names {
        if !is_stale_test_database(&name, now) {
            continue;
        }
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(admin.pool())
        .await
        {
            tracing::warn!(%error, database = %name, "dropping a stale test database");
        }
    }
}

/// Whether `name` is a test database (`enteraksi_test_<uuid v7>`) created before
/// `now - STALE_TEST_DATABASE_AGE`.
fn is_stale_test_database(name: &str, now: std::time::SystemTime) -> bool {
    let Some(uuid) = name
        .strip_prefix("enteraksi_test_")
        .and_then(|id| uuid::Uuid::try_parse(id).ok())
    else {
        return false;
    };
    let Some((seconds, nanos)) = uuid.get_timestamp().map(|t| t.to_unix()) else {
        return false;
    };
    let created = std::time::UNIX_EPOCH + std::time::Duration::new(seconds, nanos);
    now.duration_since(created)
        .is_ok_and(|age| age > STALE_TEST_DATABASE_AGE)
}

async fn migrate(db: &Database, migrators: Vec<Migrator>) {
    let mut all = vec![migrator()];
    all.extend(migrators);
    db.migrate(&all).await.expect("migrate the test database");
}

/// Runs every queue the registry knows until no job is ready, and returns what happened.
/// Jobs waiting for a retry's backoff stay queued (advance a `ManualClock` and drain again).
pub async fn drain(bus: &EventBus) -> WorkerReport {
    let queues = bus.registry().queues();
    Worker::new(bus.clone(), WorkerOptions::new(queues))
        .run_until_empty()
        .await
        .expect("draining the queues")
}

/// One notification the fake was asked to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentNotification {
    /// The recipient.
    pub to: crate::ids::UserId,
    /// The notification's type.
    pub kind: &'static str,
    /// The job's idempotency key (event and listener).
    pub key: String,
}

/// A [`NotificationSender`](crate::notifications::NotificationSender) that records instead of
/// delivering, deduplicating per (event, listener, recipient) as the real one does.
#[derive(Debug, Default)]
pub struct NotificationFake {
    sent: Mutex<Vec<SentNotification>>,
}

impl NotificationFake {
    /// A new, empty fake.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SentNotification>> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<SentNotification> {
        self.lock().clone()
    }

    /// Asserts that a notification of type `kind` was sent to `to`.
    #[track_caller]
    pub fn assert_sent_to(&self, to: crate::ids::UserId, kind: &str) {
        let sent = self.sent();
        assert!(
            sent.iter().any(|n| n.to == to && n.kind == kind),
            "expected `{kind}` to be sent to {to}; sent: {sent:#?}"
        );
    }

    /// Asserts that exactly `times` notifications of type `kind` were sent.
    #[track_caller]
    pub fn assert_sent_times(&self, kind: &str, times: usize) {
        let n = self.lock().iter().filter(|s| s.kind == kind).count();
        assert_eq!(n, times, "expected `{kind}` to be sent {times} times, got {n}");
    }

    /// Asserts that nothing was sent.
    #[track_caller]
    pub fn assert_nothing_sent(&self) {
        let sent = self.sent();
        assert!(sent.is_empty(), "expected no notification, got {sent:#?}");
    }
}

#[async_trait::async_trait]
impl crate::notifications::NotificationSender for NotificationFake {
    async fn send(
        &self,
        job: &mut crate::bus::JobContext,
        to: crate::ids::UserId,
        notification: &dyn crate::notifications::Notification,
    ) -> Result<(), crate::notifications::NotifyError> {
        let key = job.idempotency_key();
        let mut sent = self.lock();
        if !sent.iter().any(|s| s.key == key && s.to == to) {
            sent.push(SentNotification {
                to,
                kind: notification.notification_type(),
                key,
            });
        }
        Ok(())
    }
}

/// Serves `router` over real HTTP on a free loopback port until the returned task is aborted or
/// dropped with the runtime; its base URL (`http://127.0.0.1:4321`) and the task.
pub async fn serve_on_loopback(router: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    let running = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("the test server runs");
    });
    (base, running)
}

/// `event` in an envelope of its own: a new event id, now, no actor, a new correlation.
pub fn envelope<E: DomainEvent>(event: E) -> Envelope<E> {
    let meta = crate::EventMeta::new(
        crate::EventId::new(),
        chrono::Utc::now(),
        None,
        crate::CorrelationId::new(),
        None,
    );
    Envelope::new(meta, event)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn only_old_test_databases_are_stale() {
        let now = SystemTime::now();
        let fresh = format!("enteraksi_test_{}", uuid::Uuid::now_v7().simple());
        assert!(!is_stale_test_database(&fresh, now));
        assert!(is_stale_test_database(&fresh, now + Duration::from_secs(2 * 3600)));
        // Not ours, or not named by a UUIDv7: never dropped.
        assert!(!is_stale_test_database("test", now));
        assert!(!is_stale_test_database("enteraksi_test_notauuid", now));
        let nil = format!("enteraksi_test_{}", uuid::Uuid::nil().simple());
        assert!(!is_stale_test_database(&nil, now + Duration::from_secs(2 * 3600)));
    }
}
