//! Live broadcasts across processes, with the real binary: an event recorded by a separate
//! `queue work` process reaches a subscriber of a `serve` process on the same database (SQLite
//! and PostgreSQL), and `serve` ends its streams with a final event on SIGTERM.

mod support;

use std::time::Duration;

use app::config::Config;
use app::{Application, StartOptions};
use shared_kernel::testing::TestDb;
use shared_kernel::testing::sse::SseStream;
use shared_kernel::users::issue_token;
use support::process::{add_user, enteraksi, exit_code, serve, signal, sqlite_url};

const WAIT: Duration = Duration::from_secs(30);

/// One learner's path work waits in the queues; returns the learner's id and API token.
async fn learner_with_waiting_jobs(url: &str) -> (String, String) {
    let config = Config::from_lookup(|key| (key == "DATABASE_URL").then(|| url.to_owned())).unwrap();
    let app = Application::start_with(&config, StartOptions::default()).await.unwrap();
    let workload = app::workload::path_learners(app.bus(), 1, "broadcast.test")
        .await
        .unwrap();
    let learner = workload.learners[0];
    let mut conn = app.db().writer().acquire().await.unwrap();
    let token = issue_token(&mut conn, learner, chrono::Utc::now()).await.unwrap();
    drop(conn);
    app.db().close().await;
    (learner.to_string(), token.expose().to_owned())
}

async fn a_worker_process_event_reaches_a_serve_subscriber(url: &str) {
    let (learner, token) = learner_with_waiting_jobs(url).await;
    let (mut serve, api) = serve(url, "127.0.0.1:0", 0);
    let stream_url = format!("http://{api}/api/broadcasting/stream?channels=private-user.{learner}&token={token}");
    let mut stream = SseStream::open(&stream_url, &[]).await.unwrap();

    // Another process runs the jobs: the path progress unlocks the second course and enrolls
    // the learner in it, each a broadcast on the learner's channel.
    let worker = enteraksi()
        .args(["--database-url", url, "queue", "work", "--stop-when-empty"])
        .output()
        .unwrap();
    assert!(worker.status.success(), "{}", String::from_utf8_lossy(&worker.stderr));

    let mut names = Vec::new();
    while let Some(event) = stream.next(Duration::from_secs(3)).await {
        names.push(event.event);
    }
    assert!(
        names.contains(&"learning_path.course_unlocked".to_owned()),
        "the worker's events reached the server's subscriber: {names:?}"
    );
    assert!(names.contains(&"enrollment.created".to_owned()), "{names:?}");

    // SIGTERM ends the stream with a final event, then the process exits 0.
    signal(&serve, "TERM");
    let last = stream.next(WAIT).await.expect("a final event");
    assert_eq!(last.event, "shutdown");
    assert!(stream.ended_within(WAIT).await);
    assert_eq!(exit_code(&mut serve, WAIT), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_recorded_by_a_queue_work_process_reaches_a_serve_subscriber_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_worker_process_event_reaches_a_serve_subscriber(&sqlite_url(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_recorded_by_a_queue_work_process_reaches_a_serve_subscriber_on_postgres() {
    let Some(db) = TestDb::postgres("broadcast_across_processes", app::provider::migrators()).await else {
        return;
    };
    a_worker_process_event_reaches_a_serve_subscriber(db.url()).await;
    db.cleanup().await;
}

/// The API token a browser sends as `?token=` is redacted from the request logs and traces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_stream_url_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let token = add_user(&url, "Siti", "siti@example.id", "learner");
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut serve = enteraksi()
        .args([
            "--database-url",
            &url,
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "0",
        ])
        .env("ENTERAKSI_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let api = loop {
        let text = std::fs::read_to_string(&log_path).unwrap();
        if let Some(rest) = text.split("on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        assert!(started.elapsed() < WAIT, "serve did not start: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stream_url = format!("http://{api}/api/broadcasting/stream?channels=courses&token={token}");
    let stream = SseStream::open(&stream_url, &[]).await.unwrap();
    let refused = SseStream::open(&format!("{stream_url}x"), &[]).await.unwrap_err();
    assert_eq!(refused.0, 401);
    drop(stream);
    signal(&serve, "TERM");
    assert_eq!(exit_code(&mut serve, WAIT), Some(0));
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("token=***"), "the request was logged, redacted: {text}");
    assert!(!text.contains(&token), "the token reached the log: {text}");
}
