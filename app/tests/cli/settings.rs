//! Settings refused at once, with their cause and never their secrets: database and SMTP URLs,
//! files that are not databases, log filters.

use std::time::{Duration, Instant};

use crate::helpers::run;
use crate::support::process::{enteraksi, sqlite_url};

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
