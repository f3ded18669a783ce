//! The `enteraksi` binary as an operator meets it, spawned as a process: secrets never printed,
//! unreachable databases named at once, and `queue work` stopped by SIGTERM or SIGINT mid-batch
//! (on SQLite and PostgreSQL).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use app::adapters::EnrollmentCountsFromEnrollments;
use app::config::Config;
use app::{Application, StartOptions};
use course::{CourseService, LessonKind};
use enrollment::EnrollmentService;
use shared_kernel::testing::TestDb;

fn enteraksi() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_enteraksi"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("MAIL_TRANSPORT")
        .env_remove("SMTP_URL")
        .env_remove("ENTERAKSI_LOG");
    command
}

fn run(command: &mut Command) -> (Output, String) {
    let output = command.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

#[test]
fn a_mistyped_database_url_is_refused_without_printing_its_password() {
    let (output, stderr) = run(enteraksi().args([
        "--database-url",
        "postgress://postgres:S3CR3T@127.0.0.1:5432/x",
        "migrate",
    ]));

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("S3CR3T"), "{stderr}");
    assert!(stderr.contains("postgress://postgres:***@127.0.0.1:5432/x"), "{stderr}");
}

#[test]
fn an_unreachable_postgres_server_is_named_with_its_cause_at_once_and_no_password() {
    let started = Instant::now();
    let (output, stderr) =
        run(enteraksi().args(["--database-url", "postgres://postgres:S3CR3T@127.0.0.1:1/x", "migrate"]));

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("S3CR3T"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_bad_smtp_url_is_refused_without_printing_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let (output, stderr) = run(enteraksi()
        .env("DATABASE_URL", format!("sqlite:{}/x.db", dir.path().display()))
        .env("MAIL_TRANSPORT", "smtp")
        .env("SMTP_URL", "smtp://mailer:S3CR3T@bad host:25")
        .arg("migrate"));

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("S3CR3T"), "{stderr}");
    assert!(stderr.contains("SMTP_URL"), "{stderr}");
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
    let app = Application::start_with(&config, StartOptions::default()).await.unwrap();
    let mut uow = app.bus().begin();
    let instructor = shared_kernel::users::create_user(uow.conn().await.unwrap(), "Budi", "budi@example.id", "id")
        .await
        .unwrap()
        .id();
    uow.commit().await.unwrap();
    let courses = CourseService::new(app.bus().clone(), Arc::new(EnrollmentCountsFromEnrollments));
    let course = courses.create(instructor, "Rust Dasar", "").await.unwrap();
    courses
        .add_lesson(instructor, course, "Bab 1", LessonKind::Content)
        .await
        .unwrap();
    courses.publish(instructor, course).await.unwrap();
    let enrollments = EnrollmentService::new(app.bus().clone());
    for i in 0..5 {
        let mut uow = app.bus().begin();
        let learner = shared_kernel::users::create_user(
            uow.conn().await.unwrap(),
            &format!("Siswa {i}"),
            &format!("siswa{i}@example.id"),
            "id",
        )
        .await
        .unwrap()
        .id();
        uow.commit().await.unwrap();
        enrollments.enroll(learner, learner, course).await.unwrap();
    }
    app.db().close().await;
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
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
    let jobs: Vec<(String, i64, Option<String>)> = sqlx::query_as("SELECT listener, attempts, reserved_by FROM jobs")
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
