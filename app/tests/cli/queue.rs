//! `queue work`: its flags, its progress, and its graceful shutdown on SIGTERM or SIGINT
//! mid-batch (on SQLite and PostgreSQL).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use app::config::Config;
use shared_kernel::testing::TestDb;

use crate::helpers::{run, welcome_jobs};
use crate::support::process::{enteraksi, signal, sqlite_url};

#[test]
fn an_unknown_queue_is_an_error_listing_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (output, stderr) = run(enteraksi().args([
        "--database-url",
        &sqlite_url(&dir),
        "queue",
        "work",
        "--queue",
        "nosuchqueue",
        "--stop-when-empty",
    ]));

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("nosuchqueue") && stderr.contains("notifications"),
        "{stderr}"
    );
}

#[test]
fn zero_concurrency_or_batch_size_is_refused() {
    for flag in ["--concurrency", "--batch-size"] {
        let (output, stderr) = run(enteraksi().args(["queue", "work", flag, "0"]));
        assert_eq!(output.status.code(), Some(2), "{flag}: {stderr}");
        assert!(stderr.contains("at least 1"), "{flag}: {stderr}");
    }
}

#[test]
fn queue_work_shows_progress_on_a_terminal_and_plain_lines_otherwise() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("NOT RUN: queue_work_shows_progress_on_a_terminal needs `script` (util-linux) for a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "'{}' --database-url '{}' queue work --stop-when-empty",
        env!("CARGO_BIN_EXE_enteraksi"),
        sqlite_url(&dir)
    );
    // `script` runs the command on a pseudo-terminal.
    let on_terminal = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(on_terminal.status.success(), "{text}");
    assert!(text.contains("done, 0 waiting") && text.contains("jobs/s"), "{text}");

    let (piped, stderr) = run(Command::new("bash").args(["-c", &command]).env_remove("DATABASE_URL"));
    assert!(piped.status.success(), "{stderr}");
    assert!(!stderr.contains("jobs/s") && !stderr.contains('\r'), "{stderr}");
}

// ---- graceful shutdown of `queue work` ---------------------------------------------------------

/// An SMTP server that accepts connections and never answers: a mail job hangs in it. Sends on
/// the channel each time a connection arrives.
fn black_hole_smtp() -> (u16, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
            let _ = tx.send(());
        }
    });
    (port, rx)
}

/// Five learners enrolled in a course: five welcome-notification jobs waiting.
async fn five_welcome_jobs(url: &str, smtp: &str) {
    let config = Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(url.to_owned()),
        "MAIL_TRANSPORT" => Some("smtp".to_owned()),
        "SMTP_URL" => Some(smtp.to_owned()),
        _ => None,
    })
    .unwrap();
    welcome_jobs(&config, 5).await;
}

/// `queue work` is sent `signal` while a mail job hangs in the SMTP server, mid-batch: it stops
/// claiming, cuts the hanging job short after `--grace 1`, releases it and the unstarted rest
/// without using a try, and exits 0.
async fn stopped_mid_batch(url: &str, signal_name: &str) {
    let (port, connected) = black_hole_smtp();
    let smtp = format!("smtp://127.0.0.1:{port}");
    five_welcome_jobs(url, &smtp).await;

    let mut child = enteraksi()
        .env("DATABASE_URL", url)
        .env("MAIL_TRANSPORT", "smtp")
        .env("SMTP_URL", &smtp)
        .args([
            "queue",
            "work",
            "--queue",
            "notifications",
            "--concurrency",
            "1",
            "--grace",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    connected
        .recv_timeout(Duration::from_secs(30))
        .expect("a mail job reached the SMTP server");
    signal(&child, signal_name);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "queue work did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    let stderr: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();

    assert_eq!(status.code(), Some(0), "stdout {stdout:?} stderr {stderr:?}");
    assert!(stderr.iter().any(|l| l.contains(signal_name)), "{stderr:?}");
    assert!(
        stdout
            .iter()
            .any(|l| l.contains("Processed 5 jobs") && l.contains("5 released")),
        "{stdout:?}"
    );
    let db = shared_kernel::Database::connect(url).await.unwrap();
    let jobs: Vec<(String, i64, Option<String>)> = sqlx::query_as(
        "SELECT listener, attempts, reserved_by FROM jobs \
             WHERE queue = 'notifications' AND listener <> 'RemindInactiveLearner'",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(jobs.len(), 5, "the five mail jobs wait, none lost");
    assert!(
        jobs.iter()
            .all(|(listener, attempts, holder)| listener == "SendMail" && *attempts == 0 && holder.is_none()),
        "{jobs:?}"
    );
    let (notifications,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM notifications")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(notifications, 5, "the in-app notifications did not wait for mail");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_batch_finishes_releases_and_exits_zero_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    stopped_mid_batch(&format!("sqlite:{}/work.db", dir.path().display()), "TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_mid_batch_finishes_releases_and_exits_zero_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    stopped_mid_batch(&format!("sqlite:{}/work.db", dir.path().display()), "INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_batch_finishes_releases_and_exits_zero_on_postgres() {
    let Some(db) = TestDb::postgres("sigterm_mid_batch_on_postgres", app::provider::migrators()).await else {
        return;
    };
    stopped_mid_batch(db.url(), "TERM").await;
    db.cleanup().await;
}
