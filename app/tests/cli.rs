//! The `enteraksi` binary as an operator meets it, spawned as a process: secrets never printed,
//! unreachable databases named at once, and `queue work` stopped by SIGTERM or SIGINT mid-batch
//! (on SQLite and PostgreSQL).

mod support;

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
use support::api::{post, published_course, sign_up};
use support::process::{add_user, enteraksi, serve, signal, spawn_announcing, sqlite_url};

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

// ---- honest errors and fast failures (issue: the CLI as an operator meets it) -----------------

#[test]
fn a_file_that_is_not_a_database_fails_at_once_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    let started = Instant::now();
    let (output, stderr) = run(enteraksi().args(["--database-url", &format!("sqlite:{}", path.display()), "migrate"]));

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a database"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn malformed_audit_filters_are_errors_that_say_what_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    for (filter, expected) in [
        ("enrollment:", "no id after"),
        ("enrollment:notauuid", "is not an id"),
        ("a:b:c", "no aggregate type `a`"),
        ("foo", "no aggregate type `foo`"),
    ] {
        let (output, stderr) = run(enteraksi().args(["--database-url", &url, "audit", "--aggregate", filter]));
        assert_eq!(output.status.code(), Some(1), "{filter}: {stderr}");
        assert!(stderr.contains(expected), "{filter}: {stderr}");
        if expected.starts_with("no aggregate type") {
            assert!(
                stderr.contains("course, enrollment, learning_path_enrollment"),
                "the known types are listed: {stderr}"
            );
        }
    }
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "audit", "--event", "enrollment.nope"]));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("enrollment.created"),
        "the known events are listed: {stderr}"
    );
}

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
fn an_invalid_log_filter_is_reported_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (output, stderr) = run(enteraksi().env("ENTERAKSI_LOG", "shared_kernel=loud[").args([
        "--database-url",
        &sqlite_url(&dir),
        "migrate",
    ]));

    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("ENTERAKSI_LOG") && stderr.contains("not a log filter"),
        "{stderr}"
    );
}

#[test]
fn a_garbage_smtp_url_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (output, stderr) = run(enteraksi()
        .env("DATABASE_URL", sqlite_url(&dir))
        .env("MAIL_TRANSPORT", "smtp")
        .env("SMTP_URL", "garbage")
        .args(["demo", "--learners", "2"]));

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("SMTP_URL"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("Enteraksi demo on"),
        "nothing started"
    );
}

#[test]
fn processes_starting_at_once_on_a_new_sqlite_file_all_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let children: Vec<Child> = (0..4)
        .map(|_| {
            enteraksi()
                .args(["--database-url", &url, "migrate"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_closed_pipe_ends_the_program_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    for command in [
        format!(
            "'{}' --database-url '{url}' demo --learners 3 | head -2",
            env!("CARGO_BIN_EXE_enteraksi")
        ),
        format!(
            "'{}' --database-url '{url}' audit --all | head -1",
            env!("CARGO_BIN_EXE_enteraksi")
        ),
    ] {
        let output = Command::new("bash")
            .args(["-o", "pipefail", "-c", &command])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe") && !stderr.contains("error"),
            "{command}: {stderr}"
        );
        // Ended by SIGPIPE (128 + 13) or done before the pipe closed: never a panic (101) or an error (1).
        assert!(
            matches!(output.status.code(), Some(0 | 141)),
            "{command}: {:?}",
            output.status
        );
    }
}

#[test]
fn errors_print_their_message_chain_without_a_backtrace_and_logs_have_no_colour_in_a_file() {
    let (output, stderr) = run(enteraksi()
        .env("RUST_BACKTRACE", "1")
        .env("ENTERAKSI_LOG", "info")
        .args(["--database-url", "postgres://postgres@127.0.0.1:1/x", "migrate"]));

    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.starts_with("") && stderr.contains("error: cannot connect"),
        "{stderr}"
    );
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no ANSI colour when stderr is not a terminal: {stderr:?}"
    );
}

#[test]
fn the_audit_log_pages_by_default_and_hints_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "demo", "--learners", "8"]));
    assert_eq!(output.status.code(), Some(0), "{stderr}");

    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "audit", "--json"]));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 100, "a page of 100 rows by default");
    assert!(lines.iter().all(|l| l.starts_with('{')), "stdout stays JSON");
    let after = stderr
        .split("--after ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("a hint on stderr: {stderr}"))
        .to_owned();
    let (output, _) = run(enteraksi().args([
        "--database-url",
        &url,
        "audit",
        "--json",
        "--after",
        &after,
        "--limit",
        "5",
    ]));
    let next: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(next.len(), 5);
    assert!(!lines.contains(&next[0]), "the next page continues after the last row");
    let (output, _) = run(enteraksi().args(["--database-url", &url, "audit", "--all", "--json"]));
    assert!(String::from_utf8(output.stdout).unwrap().lines().count() > 100);
}

#[test]
fn a_mail_outage_is_said_plainly_by_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (output, stderr) = run(enteraksi()
        .env("DATABASE_URL", sqlite_url(&dir))
        .env("MAIL_TRANSPORT", "smtp")
        .env("SMTP_URL", format!("smtp://127.0.0.1:{port}"))
        .args(["demo", "--learners", "3"]));
    let stdout = String::from_utf8_lossy(&output.stdout);

    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains('\r'), "plain lines when not on a terminal");
    assert!(stdout.contains("MAIL DELIVERY IS FAILING"), "{stdout}");
    assert!(stdout.contains("Mails waiting to be sent:"), "{stdout}");
    assert!(stderr.contains("mail delivery is failing"), "{stderr}");
    let waiting = stdout
        .lines()
        .find(|l| l.contains("Mails waiting to be sent:"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap();
    assert!(waiting > 0, "{stdout}");
    let stored = stdout
        .lines()
        .find(|l| l.contains("Notifications (database):"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|n| n.trim().parse::<i64>().ok())
        .unwrap();
    assert!(stored > 0, "in-app notifications are not withheld: {stdout}");
}

#[test]
fn the_help_speaks_to_an_operator_and_documents_the_worker_flags() {
    let (output, _) = run(enteraksi().arg("--help"));
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("learning-management system"), "{help}");
    assert!(!help.contains("registration of every listener"), "{help}");
    let (output, _) = run(enteraksi().args(["queue", "work", "--help"]));
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in ["--lease", "--poll-ms", "--grace"] {
        assert!(help.contains(flag), "{help}");
    }
    let (output, _) = run(enteraksi().args(["demo", "--help"]));
    assert!(String::from_utf8_lossy(&output.stdout).contains("sqlite:data/demo.db"));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_at_once_on_a_new_postgres_database_all_migrate() {
    let Some(db) = TestDb::postgres("processes_starting_at_once_on_postgres", vec![]).await else {
        return;
    };
    let children: Vec<Child> = (0..4)
        .map(|_| {
            enteraksi()
                .args(["--database-url", db.url(), "migrate"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_on_postgres_names_its_database_and_gives_advice_that_works_when_it_holds_data() {
    let Some(db) = TestDb::postgres("the_demo_on_postgres", vec![]).await else {
        return;
    };
    let (output, stderr) = run(enteraksi()
        .env("DATABASE_URL", db.url())
        .args(["demo", "--learners", "2"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Explore: enteraksi audit --limit 20"), "{stdout}");
    assert!(!stdout.contains("demo.db"), "{stdout}");

    let (output, stderr) = run(enteraksi()
        .env("DATABASE_URL", db.url())
        .args(["demo", "--learners", "2"]));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("already holds data") && stderr.contains("empty database"),
        "{stderr}"
    );
    assert!(!stderr.contains("--fresh"), "advice that works on PostgreSQL: {stderr}");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_prints_the_token_alone_and_revoke_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let (output, stderr) = run(enteraksi().args([
        "--database-url",
        &url,
        "user",
        "add",
        "--name",
        "Bu Ratna",
        "--email",
        "ratna@example.id",
        "--role",
        "instructor",
    ]));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "the token alone on stdout: {stdout:?}");
    let token = stdout.trim().to_owned();
    assert!(token.starts_with("ek_") && token.len() == 67, "{token}");
    assert!(stderr.contains("instructor"), "{stderr}");

    let (output, _) = run(enteraksi().args(["--database-url", &url, "user", "token", "--email", "RATNA@example.id"]));
    let second = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_ne!(second, token);

    let db = shared_kernel::Database::connect(&url).await.unwrap();
    let mut conn = db.pool().acquire().await.unwrap();
    let caller = shared_kernel::users::authenticate(&mut conn, &token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(caller.role, shared_kernel::users::Role::Instructor);
    drop(conn);

    let (output, stderr) =
        run(enteraksi().args(["--database-url", &url, "user", "revoke", "--email", "ratna@example.id"]));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Revoked 2"), "{stderr}");
    let mut conn = db.pool().acquire().await.unwrap();
    assert!(
        shared_kernel::users::authenticate(&mut conn, &token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        shared_kernel::users::authenticate(&mut conn, &second)
            .await
            .unwrap()
            .is_none()
    );
    drop(conn);
    db.close().await;

    for (args, expected) in [
        (
            vec![
                "user",
                "add",
                "--name",
                "X",
                "--email",
                "x@example.id",
                "--role",
                "teacher",
            ],
            "not a role",
        ),
        (
            vec!["user", "add", "--name", "Y", "--email", "ratna@example.id"],
            "already exists",
        ),
        (
            vec!["user", "token", "--email", "nobody@example.id"],
            "no user with email",
        ),
    ] {
        let (output, stderr) = run(enteraksi().args(["--database-url", &url]).args(&args));
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn serve_answers_over_http_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = serve(&sqlite_url(&dir), "127.0.0.1:0", 1);

    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        std::io::Write::write_all(
            &mut stream,
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        answer
    };
    assert!(get("/health").starts_with("HTTP/1.1 200"));
    let unauthorized = get("/api/courses");
    assert!(unauthorized.starts_with("HTTP/1.1 401"), "{unauthorized}");
    assert!(unauthorized.contains("\"code\":\"unauthorized\""), "{unauthorized}");
    assert!(
        unauthorized.to_lowercase().contains("x-correlation-id"),
        "{unauthorized}"
    );

    signal(&child, "TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "serve did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

// ---- several nodes: a database that is not there yet (issue 14) -------------------------------

#[test]
fn queue_work_and_serve_on_an_unreachable_database_name_host_and_setting_and_exit_non_zero() {
    for command in [
        &["queue", "work", "--stop-when-empty"][..],
        &["serve", "--bind", "127.0.0.1:0"][..],
    ] {
        let started = Instant::now();
        let (output, stderr) = run(enteraksi()
            .env("DATABASE_URL", "postgres://postgres:S3CR3T@127.0.0.1:1/x")
            .args(command));

        assert_eq!(output.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(stderr.contains("DATABASE_URL"), "{command:?}: {stderr}");
        assert!(stderr.contains("127.0.0.1:1"), "{command:?}: {stderr}");
        assert!(stderr.contains("--wait-for-db"), "{command:?}: {stderr}");
        assert!(!stderr.contains("S3CR3T"), "{command:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{command:?}");
    }
    let (output, stderr) =
        run(enteraksi().args(["--database-url", "postgres://postgres@127.0.0.1:1/x", "queue", "work"]));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--database-url"), "{stderr}");
}

/// Forwards every connection to `listener` to `target` (a database server coming up).
fn forward(listener: TcpListener, target: String) {
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = std::net::TcpStream::connect(&target) else {
                continue;
            };
            let pairs = [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ];
            for (mut from, mut into) in pairs {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

/// `queue work --wait-for-db` started while nothing answers on the database's port waits,
/// logging, and works once the database answers there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_work_with_wait_for_db_waits_until_the_database_answers() {
    let Some(db) = TestDb::postgres("wait_for_db", app::provider::migrators()).await else {
        return;
    };
    let (head, rest) = db.url().split_once("://").unwrap();
    let (authority, name) = rest.split_once('/').unwrap();
    let (user, server) = authority.rsplit_once('@').map_or(("", authority), |(u, s)| (u, s));
    // A port nothing listens on, for now.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let at = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    let url = format!("{head}://{at}127.0.0.1:{port}/{name}");

    let mut child = enteraksi()
        .env("DATABASE_URL", &url)
        .args(["queue", "work", "--wait-for-db", "--stop-when-empty"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, stderr) = mpsc::channel();
    let pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|l: &String| l.contains("waiting for the database")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match stderr.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no waiting logged: {seen:?}"),
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "it exited instead of waiting: {seen:?}"
    );

    forward(TcpListener::bind(("127.0.0.1", port)).unwrap(), server.to_owned());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "queue work did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();
    seen.extend(stderr.try_iter());

    assert_eq!(status.code(), Some(0), "stdout {stdout:?} stderr {seen:?}");
    assert!(stdout.iter().any(|l| l.contains("Processed 0 jobs")), "{stdout:?}");
    db.cleanup().await;
}

/// `learners` learners enrolled in a published course: as many welcome-notification jobs (each
/// enqueues a mail job when it runs).
async fn welcome_jobs(config: &Config, learners: usize) {
    let app = Application::start_with(config, StartOptions::default()).await.unwrap();
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
    for i in 0..learners {
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

async fn count(db: &shared_kernel::Database, sql: &'static str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(db.pool()).await.unwrap();
    n
}

/// `queue work` drains 300 welcome notifications and their 300 mails while every other backend
/// of its database is terminated twice: it logs the lost connections and carries on (no exit),
/// the jobs and failed jobs end empty, every notification and mail delivery record exists once,
/// and every mail was written at least once with one `Message-ID` per mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_work_carries_on_when_its_connections_are_terminated_mid_drain() {
    let Some(db) = TestDb::postgres("queue_work_terminated", app::provider::migrators()).await else {
        return;
    };
    let mail = tempfile::tempdir().unwrap();
    let mail_dir = mail.path().display().to_string();
    let config = Config::from_lookup(|key| match key {
        "DATABASE_URL" => Some(db.url().to_owned()),
        "MAIL_TRANSPORT" => Some("file".to_owned()),
        "MAIL_FILE_DIR" => Some(mail_dir.clone()),
        _ => None,
    })
    .unwrap();
    let learners: i64 = 300;
    welcome_jobs(&config, learners as usize).await;

    let mut child = enteraksi()
        .env("DATABASE_URL", db.url())
        .env("MAIL_TRANSPORT", "file")
        .env("MAIL_FILE_DIR", &mail_dir)
        .args(["queue", "work", "--concurrency", "2", "--batch-size", "10"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let admin = db.db();
    for at in [40, 200] {
        let started = Instant::now();
        while count(admin, "SELECT COUNT(*) FROM notifications").await < at {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the drain did not get going"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (killed,): (i64,) = sqlx::query_as(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(admin.writer())
        .await
        .unwrap();
        assert!(killed > 0);
    }
    let started = Instant::now();
    while count(admin, app::workload::JOBS_BUT_REMINDERS).await > 0 {
        assert!(started.elapsed() < Duration::from_secs(90), "the drain did not finish");
        assert!(child.try_wait().unwrap().is_none(), "queue work exited mid-drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(child.try_wait().unwrap().is_none(), "queue work exited");
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    let stderr: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .collect();

    assert_eq!(status.code(), Some(0), "{stderr:?}");
    assert!(stderr.iter().any(|l| l.contains("was lost")), "{stderr:?}");
    assert_eq!(count(admin, "SELECT COUNT(*) FROM failed_jobs").await, 0);
    assert_eq!(count(admin, "SELECT COUNT(*) FROM notifications").await, learners);
    assert_eq!(
        count(admin, "SELECT COUNT(*) FROM notification_deliveries").await,
        learners
    );
    let mut message_ids = std::collections::HashSet::new();
    let mut files = 0;
    for entry in std::fs::read_dir(mail.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        files += 1;
        let id = text
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
            .expect("every mail has a Message-ID")
            .to_owned();
        message_ids.insert(id);
    }
    assert!(files >= learners, "{files} mails written");
    assert_eq!(message_ids.len() as i64, learners, "one Message-ID per mail");
    db.cleanup().await;
}

/// `serve` on PostgreSQL keeps answering authenticated requests (which read the database) after
/// every other backend of its database was terminated, and stops cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_again_after_its_database_connections_are_terminated() {
    let Some(db) = TestDb::postgres("serve_terminated", app::provider::migrators()).await else {
        return;
    };
    let (added, stderr) = run(enteraksi().env("DATABASE_URL", db.url()).args([
        "user",
        "add",
        "--name",
        "Ratna",
        "--email",
        "ratna@example.id",
        "--role",
        "instructor",
    ]));
    assert_eq!(added.status.code(), Some(0), "{stderr}");
    let token = String::from_utf8(added.stdout).unwrap().trim().to_owned();
    let (mut child, address) = spawn_announcing(
        enteraksi()
            .env("DATABASE_URL", db.url())
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "1"]),
        "http://",
    );
    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        std::io::Write::write_all(
            &mut stream,
            format!(
                "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        answer
    };
    let before = get("/api/courses");
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");

    let (killed,): (i64,) = sqlx::query_as(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(db.db().writer())
    .await
    .unwrap();
    assert!(killed > 0);
    let after = get("/api/courses");

    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
    assert!(child.try_wait().unwrap().is_none(), "serve exited");
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    db.cleanup().await;
}

// ---- operations: /metrics, /healthz and /readyz (issue 13) -------------------------------------

/// Spawns `command` (an `enteraksi`) and returns it with the `host:port` it announces on stderr
/// right after `announce` (its stderr is drained afterwards so it never blocks).
/// The value of the sample `name{labels}` (labels exactly these, in any order) in a Prometheus
/// text exposition, if present.
fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    exposition.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let mut found: Vec<String> = rest
            .trim_end_matches('}')
            .split(',')
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        found.sort();
        (metric == name && found == wanted).then(|| value.parse().unwrap())
    })
}

/// The sum of every sample of `name` in an exposition.
fn total(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_command_on_serve_and_its_drained_jobs_on_queue_work() {
    // Arrange: a migrated database, an instructor, a server without workers.
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let instructor = add_user(&url, "Bu Ratna", "ratna@example.id", "instructor");
    let (mut serve, api) = serve(&url, "127.0.0.1:0", 0);
    let api = format!("http://{api}");
    let client = reqwest::Client::new();

    // Act: a learner signs up and enrolls in a published course; a worker drains the jobs.
    let (_, learner) = sign_up(&client, &api, "Siti", "siti@example.id").await;
    let (course, _) = published_course(&client, &api, &instructor, "Rust").await;
    post(
        &client,
        format!("{api}/api/courses/{course}/enrollments"),
        &learner,
        serde_json::json!({}),
    )
    .await;
    let (mut work, worker) = spawn_announcing(
        enteraksi().args(["--database-url", &url, "queue", "work", "--metrics-bind", "127.0.0.1:0"]),
        "Serving metrics on http://",
    );
    let worker = format!("http://{worker}");
    let scrape = |base: String| {
        let client = client.clone();
        async move {
            let response = client.get(format!("{base}/metrics")).send().await.unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::OK);
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
            response.text().await.unwrap()
        }
    };
    // The worker's job counts are the drain's progress: wait until the welcome notification
    // and the mail it sends (two jobs of queue `notifications`) have succeeded.
    let started = Instant::now();
    let drained = loop {
        let text = scrape(worker.clone()).await;
        if sample(&text, "enteraksi_jobs_succeeded_total", &[("queue", "notifications")]) == Some(2.0) {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "jobs not drained:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The queue gauges are read at scrape and cached for a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let served = scrape(api.clone()).await;

    // Assert: the command's events and requests on serve, the jobs on queue work.
    assert_eq!(
        sample(
            &served,
            "enteraksi_events_dispatched_total",
            &[("event", "enrollment.created")]
        ),
        Some(1.0),
        "{served}"
    );
    assert_eq!(
        sample(
            &served,
            "enteraksi_events_dispatched_total",
            &[("event", "course.published")]
        ),
        Some(1.0),
        "{served}"
    );
    assert_eq!(
        sample(
            &served,
            "enteraksi_http_requests_total",
            &[
                ("route", "/api/courses/{id}/enrollments"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        Some(1.0),
        "{served}"
    );
    assert_eq!(
        sample(
            &served,
            "enteraksi_http_request_duration_seconds_count",
            &[
                ("route", "/api/courses/{id}/enrollments"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        Some(1.0),
        "{served}"
    );
    assert_eq!(
        sample(
            &served,
            "enteraksi_listener_runs_total",
            &[("listener", "LogDomainEvent"), ("mode", "sync")]
        ),
        // course.published, its StateTransitioned (draft → published), enrollment.created.
        Some(3.0),
        "{served}"
    );
    assert_eq!(
        total(&served, "enteraksi_jobs_claimed_total"),
        0.0,
        "serve runs no workers"
    );
    assert_eq!(total(&served, "enteraksi_queue_depth"), 0.0, "{served}");
    assert_eq!(
        sample(&served, "enteraksi_queue_depth", &[("queue", "notifications")]),
        Some(0.0)
    );
    assert_eq!(
        sample(&drained, "enteraksi_jobs_claimed_total", &[("queue", "notifications")]),
        Some(2.0),
        "{drained}"
    );
    for name in [
        "enteraksi_jobs_retried_total",
        "enteraksi_jobs_failed_total",
        "enteraksi_jobs_buried_total",
        "enteraksi_listeners_failed_total",
    ] {
        assert_eq!(total(&drained, name), 0.0, "{name}: {drained}");
    }
    for listener in ["SendWelcomeNotification", "SendMail"] {
        let labels = [("listener", listener), ("mode", "queued")];
        assert_eq!(
            sample(&drained, "enteraksi_listener_runs_total", &labels),
            Some(1.0),
            "{drained}"
        );
        assert_eq!(
            sample(&drained, "enteraksi_listener_duration_seconds_count", &labels),
            Some(1.0)
        );
    }

    signal(&serve, "TERM");
    signal(&work, "TERM");
    assert_eq!(serve.wait().unwrap().code(), Some(0));
    assert_eq!(work.wait().unwrap().code(), Some(0));
}

// ---- event replay (issue 16) ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_replay_enqueues_a_listeners_past_events_and_says_what_it_cannot_replay() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let config = Config::from_lookup(|key| (key == "DATABASE_URL").then(|| url.clone())).unwrap();
    welcome_jobs(&config, 3).await;
    let replay = |extra: &[&str]| {
        let mut args = vec!["--database-url", &url, "event", "replay"];
        args.extend_from_slice(extra);
        run(enteraksi().args(args))
    };

    let (output, stderr) = replay(&["--listener", "SendWelcomeNotification", "--dry-run"]);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("3 past events matched, would enqueue 0 jobs (0 already delivered, 3 waiting, 0 failed)"),
        "{stdout}"
    );
    // Their welcome jobs still wait (nothing drained them): left alone.
    let (output, stderr) = replay(&["--listener", "SendWelcomeNotification"]);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("enqueued 0 jobs (0 already delivered, 3 waiting, 0 failed)"),
        "{stdout}"
    );
    assert!(stderr.contains("past events read"), "progress on stderr: {stderr}");
    // Delivered: the ledger says so, and a replay enqueues nothing.
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "queue", "work", "--stop-when-empty"]));
    assert!(output.status.success(), "{stderr}");
    let (output, stderr) = replay(&["--listener", "SendWelcomeNotification"]);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("enqueued 0 jobs (3 already delivered, 0 waiting, 0 failed)"),
        "{stdout}"
    );

    let (output, stderr) = replay(&["--listener", "Nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("no queued listener is named `Nope`") && stderr.contains("SendWelcomeNotification"),
        "{stderr}"
    );
    let (output, stderr) = replay(&["--listener", "RecalculateCourseProgress"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("sync listener"), "{stderr}");
    let (output, stderr) = replay(&["--listener", "SendWelcomeNotification", "--event", "progress.updated"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("does not listen to `progress.updated`"), "{stderr}");
}

// ---- audit verify (issue 16) ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_a_tampered_row_and_checks_a_kept_signed_head() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let config = Config::from_lookup(|key| (key == "DATABASE_URL").then(|| url.clone())).unwrap();
    welcome_jobs(&config, 2).await;
    let verify = |key: &str, expect: Option<&str>| {
        let mut command = enteraksi();
        command
            .args(["--database-url", &url, "audit", "verify"])
            .env("AUDIT_HEAD_KEY", key);
        if let Some(expect) = expect {
            command.args(["--expect", expect]);
        }
        run(&mut command)
    };
    let (output, stderr) = verify("s3cret", None);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.contains("The audit log is intact"), "{stdout}");
    let head = stdout
        .lines()
        .find_map(|l| l.strip_prefix("head: "))
        .expect("a head")
        .to_owned();
    let (output, stderr) = verify("s3cret", Some(&head));
    assert!(output.status.success(), "the log still matches its head: {stderr}");
    let (output, stderr) = verify("another", Some(&head));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("signature does not match"), "{stderr}");

    // The newest enrollment's audit row removed: no link breaks, the kept head does not match.
    let db = shared_kernel::Database::connect(&url).await.unwrap();
    sqlx::query(
        "DELETE FROM domain_event_log WHERE event_id = \
         (SELECT event_id FROM domain_event_log ORDER BY created_at DESC, event_id DESC LIMIT 1)",
    )
    .execute(db.writer())
    .await
    .unwrap();
    let (output, stderr) = verify("s3cret", Some(&head));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("no longer matches the kept head"), "{stderr}");

    // A row edited in place is named.
    sqlx::query("UPDATE domain_event_log SET metadata = '{}' WHERE aggregate_type = 'course'")
        .execute(db.writer())
        .await
        .unwrap();
    db.close().await;
    let (output, stderr) = verify("s3cret", None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr.contains("was changed or inserted") && stderr.contains("course:"),
        "{stderr}"
    );
}

// ---- user erase (issue 16) -----------------------------------------------------------------------

/// Whether `needle` occurs in the bytes of the SQLite database file or its WAL.
fn in_database_files(path: &std::path::Path, needle: &str) -> bool {
    ["", "-wal"].iter().any(|suffix| {
        let file = format!("{}{suffix}", path.display());
        std::fs::read(&file).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}

#[test]
fn user_erase_shreds_a_learners_data_while_the_audit_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let file = dir.path().join("lms.db");
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "demo", "--learners", "6"]));
    assert!(output.status.success(), "{stderr}");
    let (email, name) = ("pelajar01@enteraksi.test", "Pelajar 01");
    let audit = |filter: &[&str]| {
        let mut args = vec!["--database-url", url.as_str(), "audit", "--json", "--all"];
        args.extend_from_slice(filter);
        let (output, stderr) = run(enteraksi().args(args));
        assert!(output.status.success(), "{stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    // Before: their name reads back through the audit log (stored sealed, revealed on reading).
    let completed = audit(&["--event", "enrollment.completed"]);
    assert!(completed.contains(name), "{completed}");
    assert!(in_database_files(&file, email), "the address is there before");

    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "user", "erase", "--email", email]));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("Erased user"), "{stderr}");

    assert!(
        !in_database_files(&file, email),
        "the address is nowhere in the database's files"
    );
    let completed = audit(&["--event", "enrollment.completed"]);
    assert!(!completed.contains(name), "{completed}");
    assert!(completed.contains("[erased]"), "{completed}");
    // The other learners keep their names.
    assert!(completed.contains("Pelajar 02"), "{completed}");
    // Nothing hashed changed: the chain verifies.
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "audit", "verify"]));
    assert!(output.status.success(), "{stderr}");
    // Once is enough: the address is gone.
    let (output, stderr) = run(enteraksi().args(["--database-url", &url, "user", "erase", "--email", email]));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("no user has the e-mail address"), "{stderr}");
}
