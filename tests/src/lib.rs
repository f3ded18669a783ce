//! Helpers for the cross-context tests in `tests/tests/`: [`spawn_app`] starts the real
//! application (app's registration, migrations and notifier) on a temporary SQLite file, with an
//! in-memory mail transport and an event fake attached.

use std::sync::Arc;

use app::config::Config;
use app::{Application, StartOptions};
use shared_kernel::notifications::MemoryTransport;
use shared_kernel::testing::{EventFake, TestDb};

/// A running application and what the test observes it through.
pub struct TestApp {
    /// The application, wired exactly as the binary wires it.
    pub app: Application,
    /// Every committed event.
    pub events: Arc<EventFake>,
    /// Every mail sent.
    pub mail: Arc<MemoryTransport>,
    postgres: Option<TestDb>,
    _dir: tempfile::TempDir,
}

/// Starts the application on a fresh temporary SQLite database.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite:{}", dir.path().join("lms.db").display());
    spawn_app_on(url, dir, None).await
}

/// Starts the application on a fresh PostgreSQL database, or returns `None` (saying so) when no
/// PostgreSQL server is configured for tests.
pub async fn spawn_app_on_postgres(test: &str) -> Option<TestApp> {
    let db = TestDb::postgres(test, app::provider::migrators()).await?;
    let dir = tempfile::tempdir().expect("temporary directory");
    Some(spawn_app_on(db.url().to_owned(), dir, Some(db)).await)
}

async fn spawn_app_on(url: String, dir: tempfile::TempDir, postgres: Option<TestDb>) -> TestApp {
    let config = Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(url.clone()),
        "APP_URL" => Some("https://lms.example.id".to_owned()),
        _ => None,
    })
    .expect("test configuration");
    let events = EventFake::new();
    let mail = Arc::new(MemoryTransport::default());
    let app = Application::start_with(
        &config,
        StartOptions {
            mail_transport: Some(mail.clone()),
            observers: vec![events.clone()],
            group_commit: None,
        },
    )
    .await
    .expect("the application starts");
    TestApp {
        app,
        events,
        mail,
        postgres,
        _dir: dir,
    }
}

impl TestApp {
    /// Creates a user (Indonesian locale) and returns their id.
    pub async fn user(&self, name: &str, email: &str) -> shared_kernel::UserId {
        let mut uow = self.app.bus().begin();
        let user = shared_kernel::users::create_user(uow.conn().await.expect("a write transaction"), name, email, "id")
            .await
            .expect("the user is created");
        uow.commit().await.expect("the user is committed");
        user.id()
    }

    /// Closes the application and drops a PostgreSQL test database.
    pub async fn cleanup(self) {
        self.app.db().close().await;
        if let Some(db) = self.postgres {
            db.cleanup().await;
        }
    }
}
