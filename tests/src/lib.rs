//! Helpers for the cross-context tests in `tests/tests/`: [`spawn_app`] starts the real
//! application (app's registration, migrations and notifier) on a temporary SQLite file, with an
//! in-memory mail transport and an event fake attached.

use std::sync::Arc;

use app::config::Config;
use app::{Application, StartOptions};
use shared_kernel::notifications::MemoryTransport;
use shared_kernel::testing::EventFake;

/// A running application and what the test observes it through.
pub struct TestApp {
    /// The application, wired exactly as the binary wires it.
    pub app: Application,
    /// Every committed event.
    pub events: Arc<EventFake>,
    /// Every mail sent.
    pub mail: Arc<MemoryTransport>,
    _dir: tempfile::TempDir,
}

/// Starts the application on a fresh temporary database.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite:{}", dir.path().join("lms.db").display());
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
        },
    )
    .await
    .expect("the application starts");
    TestApp {
        app,
        events,
        mail,
        _dir: dir,
    }
}
